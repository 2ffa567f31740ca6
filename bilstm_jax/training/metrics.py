"""Pure loss and metric functions that return sums and counts (divide on the host)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax


def example_weights(batch) -> jnp.ndarray:
  """[B] for classification, [B, T] for tagging: 1 for real examples / valid tokens."""
  mask_B = batch["mask"].astype(jnp.float32)
  if batch["labels"].ndim == 1:
    return mask_B
  num_steps = batch["labels"].shape[1]
  valid_BxT = jnp.arange(num_steps)[None, :] < batch["lengths"][:, None]
  return valid_BxT.astype(jnp.float32) * mask_B[:, None]


def coarse_ids(label_names) -> np.ndarray | None:
  """For labels named 'COARSE:fine' (TREC's 50 fine classes): each label's coarse id, the
  coarse names numbered in sorted order. None when any label lacks the ':' (no hierarchy)."""
  if not label_names or not all(":" in name for name in label_names):
    return None
  coarse = [name.partition(":")[0] for name in label_names]
  names = sorted(set(coarse))
  return np.array([names.index(c) for c in coarse], np.int32)


def loss_and_sums(logits, batch, coarse_of=None,
                  label_smoothing: float = 0.0) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
  """Mean masked cross-entropy (for the gradient) and the sums every metric is built from.

  label_smoothing (training only) mixes the one-hot target with the uniform distribution:
  (1 - s) * one_hot + s / num_classes, as optax.smooth_labels does.

  coarse_of ([num_classes] coarse id per label, from coarse_ids) adds the coarse accuracy
  of a fine-label classifier: the predicted coarse class is the one with the most summed
  probability over its fine classes (the Bayes choice, not the coarse class of the argmax)."""
  weights = example_weights(batch)
  logits = logits.astype(jnp.float32)
  if label_smoothing:
    targets = optax.smooth_labels(jax.nn.one_hot(batch["labels"], logits.shape[-1]),
                                  label_smoothing)
    xent = optax.softmax_cross_entropy(logits, targets)
  else:
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
  correct = (jnp.argmax(logits, axis=-1) == batch["labels"]).astype(jnp.float32)
  sums = {
      "loss_sum": jnp.sum(xent * weights),
      "correct_sum": jnp.sum(correct * weights),
      "count": jnp.sum(weights),
  }
  if coarse_of is not None:
    coarse_of = np.asarray(coarse_of)
    to_coarse = jax.nn.one_hot(coarse_of, int(coarse_of.max()) + 1, dtype=jnp.float32)
    coarse_probs = jax.nn.softmax(logits, axis=-1) @ to_coarse
    coarse_gold = jnp.asarray(coarse_of)[batch["labels"]]
    coarse_correct = (jnp.argmax(coarse_probs, axis=-1) == coarse_gold).astype(jnp.float32)
    sums["coarse_correct_sum"] = jnp.sum(coarse_correct * weights)
  return sums["loss_sum"] / jnp.maximum(sums["count"], 1.0), sums


def summarize(sums: dict, split: str) -> dict[str, float]:
  """Host-side means from summed counts: {'split/loss', 'split/accuracy', 'split/count'}, and
  'split/coarse_accuracy' when the sums have it."""
  count = float(sums["count"])
  # Per token, or per sentence where the loss is a sentence's (the CRF head's 'sentences').
  loss_count = float(sums["sentences"]) if "sentences" in sums else count
  results = {
      f"{split}/loss": float(sums["loss_sum"]) / max(loss_count, 1.0),
      f"{split}/accuracy": float(sums["correct_sum"]) / max(count, 1.0),
      f"{split}/count": count,
  }
  if "coarse_correct_sum" in sums:
    results[f"{split}/coarse_accuracy"] = float(sums["coarse_correct_sum"]) / max(count, 1.0)
  if "skipped" in sums:  # the CTC head: utterances too short for their label string
    results[f"{split}/skipped"] = float(sums["skipped"])
  return results
