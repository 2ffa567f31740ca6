"""Test set-up: CPU only, strict rank promotion, a PRNG key fixture."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# TensorFlow (the data layer) imports Keras with its own backend unless told otherwise; the
# real-Keras interop tests need the JAX backend.
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
