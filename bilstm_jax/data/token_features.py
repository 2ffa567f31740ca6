"""Token features beyond the word (e.g. a CoNLL POS column): a vocabulary per column, and ids.

With config key data.feature_columns naming F columns, every token becomes a row
[word id, f_1, ..., f_F] (then its characters, with data.max_word_chars = W): the example's inputs
are [T, 1 + F (+ W)] int32, so batching, bucketing, padding and word dropout (column 0 only)
stay as for word ids. Each column's ids come from its training values (0 pads, 1 is a value
never seen in training), saved in the workdir as features.json beside vocab.json.
"""

from __future__ import annotations

import sys

import numpy as np

from bilstm_jax.config import ConfigError
from bilstm_jax.data import vocab
from bilstm_jax.data.builders import Example

FEATURES_FILE = "features.json"


def check_aligned(split: str, examples: list[Example], num_features: int) -> None:
  """Every example has one value per token in every feature column."""
  for ex in examples:
    columns = ex.features or []
    if len(columns) != num_features or any(len(c) != len(ex.input) for c in columns):
      raise ConfigError(f"{ex.where}: an example of the {split!r} split has {len(ex.input)} "
                        f"tokens but feature columns of lengths {[len(c) for c in columns]}")


def build_feature_vocabs(train: list[Example], num_features: int) -> list[list[str]]:
  """Per feature column: [pad, oov, training values by descending count, ties by value]."""
  return [vocab.build_vocab((ex.features[f] for ex in train), 1, sys.maxsize)
          for f in range(num_features)]


def encode_features(ex: Example, indexes: list[dict[str, int]], num_tokens: int) -> np.ndarray:
  """[num_tokens, F] ids of the example's first num_tokens tokens (truncated like the words)."""
  out = np.zeros((num_tokens, len(indexes)), np.int32)
  for f, index in enumerate(indexes):
    out[:, f] = [index.get(value, vocab.OOV_ID) for value in ex.features[f][:num_tokens]]
  return out


def with_features(inputs_T: np.ndarray, features_TxF: np.ndarray) -> np.ndarray:
  """[T, 1 + F (+ W)]: the word id, the feature ids, then the characters if there are any."""
  rows_Tx1X = inputs_T[:, None] if inputs_T.ndim == 1 else inputs_T
  return np.concatenate([rows_Tx1X[:, :1], features_TxF, rows_Tx1X[:, 1:]], axis=1)
