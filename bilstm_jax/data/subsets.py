"""Training on a share of the training split (config key data.train_fraction, learning curves).

Every loader cuts the training split before anything is learned from it (vocabularies,
character and feature vocabularies, word counts for word dropout, feature statistics), so a
run at fraction f has seen nothing of the rest. The kept examples are the first
round(f * N) of one fixed permutation: the same subset for every model and seed at one
fraction, and each smaller fraction's examples inside every larger one's. Val and test are
never cut.
"""

from __future__ import annotations

import numpy as np

from bilstm_jax.config import ConfigError

PERMUTATION_SEED = 0


def train_indices(num_examples: int, fraction) -> np.ndarray:
  """The kept training examples' indices, in their original order."""
  if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
    raise ConfigError(f"config key data.train_fraction must be in (0, 1], got {fraction!r}")
  if fraction == 1:
    return np.arange(num_examples)
  order = np.random.default_rng(PERMUTATION_SEED).permutation(num_examples)
  return np.sort(order[:max(1, round(fraction * num_examples))])


def take(items, indices: np.ndarray):
  """items[indices] for a list or an array."""
  return items[indices] if isinstance(items, np.ndarray) else [items[i] for i in indices]


def take_fields(split: dict, indices: np.ndarray) -> dict:
  """The same examples of every field of a column-wise split (inputs, labels, names, ...)."""
  return {key: take(value, indices) for key, value in split.items()}
