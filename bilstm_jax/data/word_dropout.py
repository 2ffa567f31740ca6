"""Word dropout on token-id batches (numpy, host side): uniform, or frequency-aware.

Kept apart from the text pipeline (which needs TensorFlow Datasets) because the trainer applies
it to every batch, on hosts that may only hold the encoded arrays."""

from __future__ import annotations

import numpy as np

from bilstm_jax.config import ConfigError
from bilstm_jax.data import vocab


def check_word_dropout(rate: float, alpha: float) -> None:
  if not 0.0 <= rate < 1.0:
    raise ConfigError(f"config key data.word_dropout must be in [0, 1), got {rate!r}")
  if alpha < 0.0:
    raise ConfigError(f"config key data.word_dropout_alpha must be >= 0, got {alpha!r}")


def word_dropout(tokens_BxT: np.ndarray, lengths: np.ndarray, rate: float,
                 rng: np.random.Generator, oov_id: int = vocab.OOV_ID, alpha: float = 0.0,
                 counts: np.ndarray | None = None) -> np.ndarray:
  """A copy with real tokens replaced by `oov_id`; padding is kept.

  A token is dropped with probability `rate`, or, when `alpha` > 0, with probability
  1 - (1 - rate) * c / (alpha + c) where c = counts[token] is its training count: rare words
  are dropped most (frequency-aware word dropout, Kiperwasser & Goldberg 2016).
  With character input ([B, T, 1 + W]) only the word id (column 0) is dropped: the word's
  spelling stays, which is what teaches the character encoder to stand in for unknown words.
  """
  if rate <= 0.0 and alpha <= 0.0:
    return tokens_BxT
  if tokens_BxT.ndim == 3:
    dropped = tokens_BxT.copy()
    dropped[:, :, 0] = word_dropout(tokens_BxT[:, :, 0], lengths, rate, rng, oov_id, alpha, counts)
    return dropped
  drop_prob = rate
  if alpha > 0.0:
    count_BxT = counts[tokens_BxT].astype(np.float64)
    drop_prob = 1.0 - (1.0 - rate) * count_BxT / (alpha + count_BxT)
  valid_BxT = np.arange(tokens_BxT.shape[1])[None, :] < lengths[:, None]
  drop_BxT = (rng.random(tokens_BxT.shape) < drop_prob) & valid_BxT
  return np.where(drop_BxT, np.asarray(oov_id, tokens_BxT.dtype), tokens_BxT)
