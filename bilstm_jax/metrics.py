"""Pure loss and metric functions that return sums and counts (divide on the host)."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def example_weights(batch) -> jnp.ndarray:
  """[B] for classification, [B, T] for tagging: 1 for real examples / valid tokens."""
  mask_B = batch["mask"].astype(jnp.float32)
  if batch["labels"].ndim == 1:
    return mask_B
  num_steps = batch["labels"].shape[1]
  valid_BxT = jnp.arange(num_steps)[None, :] < batch["lengths"][:, None]
  return valid_BxT.astype(jnp.float32) * mask_B[:, None]


def loss_and_sums(logits, batch) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
  """Mean masked cross-entropy (for the gradient) and the sums every metric is built from."""
  weights = example_weights(batch)
  xent = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32),
                                                         batch["labels"])
  correct = (jnp.argmax(logits, axis=-1) == batch["labels"]).astype(jnp.float32)
  sums = {
      "loss_sum": jnp.sum(xent * weights),
      "correct_sum": jnp.sum(correct * weights),
      "count": jnp.sum(weights),
  }
  return sums["loss_sum"] / jnp.maximum(sums["count"], 1.0), sums


def summarize(sums: dict, split: str) -> dict[str, float]:
  """Host-side means from summed counts: {'split/loss', 'split/accuracy', 'split/count'}."""
  count = float(sums["count"])
  return {
      f"{split}/loss": float(sums["loss_sum"]) / max(count, 1.0),
      f"{split}/accuracy": float(sums["correct_sum"]) / max(count, 1.0),
      f"{split}/count": count,
  }
