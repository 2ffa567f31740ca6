"""Test set-up: CPU only, strict rank promotion, a PRNG key fixture."""

import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# TensorFlow (the data layer) imports Keras with its own backend unless told otherwise; the
# real-Keras interop tests need the JAX backend.
os.environ.setdefault("KERAS_BACKEND", "jax")
# PyTorch imports triton (its GPU kernel compiler) the first time torch.optim runs, and
# triton's native library crashes a process that has already loaded TensorFlow's (a segfault
# in triton/knobs.py). The tests run PyTorch on the CPU only, where triton is never used, so
# its import is made to fail cleanly; torch then carries on without it.
sys.modules.setdefault("triton", None)
# The trainer keeps JAX's compilation cache in ~/.cache by default; the tests keep theirs for
# the session only (trainer subprocesses inherit it), so no state outlives a test run.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _XLA_CACHE = tempfile.mkdtemp(prefix="bilstm_jax_test_xla_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
  atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
