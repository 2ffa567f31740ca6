"""Test set-up: CPU only, strict rank promotion, a PRNG key fixture."""

import os
import sys

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

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
