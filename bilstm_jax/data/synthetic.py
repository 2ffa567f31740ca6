"""The embedded default task: a seeded synthetic tagging task that needs both directions.

Tokens are 1..V (0 is padding). The tag at position t compares its two neighbours:
0 if x[t-1] < x[t+1], 1 if equal, 2 if greater, with a missing neighbour read as 0. A
forward-only model sees x[t-1] but not x[t+1], so the best it can do is guess from the
left neighbour alone (about 2/3 accuracy for V=8); a bidirectional one can be exact.
"""

from __future__ import annotations

import numpy as np

from bilstm_jax.config import ConfigError
from bilstm_jax.data import subsets
from bilstm_jax.data.batching import ArrayDataset

NUM_TAGS = 3
SPLITS = {"train": 0, "val": 1, "test": 2}


def neighbour_tags(tokens_T: np.ndarray) -> np.ndarray:
  padded = np.concatenate([[0], tokens_T, [0]])
  left, right = padded[:-2], padded[2:]
  return np.where(left < right, 0, np.where(left == right, 1, 2)).astype(np.int32)


def make_split(split: str, size: int, vocab_size: int, min_len: int, max_len: int,
               seed: int) -> ArrayDataset:
  """`size` examples of `split`, the same for the same arguments on every machine."""
  if not 1 <= min_len <= max_len:
    raise ConfigError(f"config keys data.min_len/max_len: synthetic lengths need 1 <= min_len <= max_len, got {min_len}, {max_len}")
  rng = np.random.default_rng([seed, SPLITS[split]])
  lengths = rng.integers(min_len, max_len + 1, size=size)
  inputs = [rng.integers(1, vocab_size + 1, size=n).astype(np.int32) for n in lengths]
  return ArrayDataset(inputs, [neighbour_tags(x) for x in inputs])


def get_datasets(data_cfg) -> tuple[dict[str, ArrayDataset], dict]:
  splits = {
      split: make_split(split, data_cfg[f"{split}_size"], data_cfg.vocab_size,
                        data_cfg.min_len, data_cfg.max_len, data_cfg.seed)
      for split in SPLITS
  }
  train = splits["train"]
  kept = subsets.train_indices(len(train), data_cfg.train_fraction)
  if len(kept) < len(train):
    splits["train"] = ArrayDataset(subsets.take(train.inputs, kept),
                                   subsets.take(train.labels, kept))
  info = {"task": "tagging", "vocab_size": data_cfg.vocab_size + 1, "feature_dim": None,
          "num_classes": NUM_TAGS}
  return splits, info
