"""Character input for a character-level word encoder (Plank et al. 2016, Lample et al. 2016).

With data.max_word_chars = W > 0 every token becomes a row [word id, c_1, ..., c_W]: the
example's inputs are [T, 1 + W] int32 instead of [T], so batching, bucketing and padding stay
exactly as for word ids. Character ids come from the training split's characters (0 pads a
word shorter than W, 1 is a character never seen in training). A word longer than W keeps its
first ceil(W/2) and last floor(W/2) characters: prefixes and suffixes carry most of the
part-of-speech signal, the middle of a long word little.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

import numpy as np

from bilstm_jax.config import ConfigError
from bilstm_jax.data import vocab

CHARS_FILE = "chars.json"
PAD_ID, OOV_ID = 0, 1


def build_char_vocab(token_lists: Iterable[list[str]], min_count: int = 1) -> list[str]:
  """[pad, oov, characters by descending training count, ties by character]."""
  counts = collections.Counter(ch for tokens in token_lists for token in tokens for ch in token)
  kept = sorted((ch for ch, c in counts.items() if c >= min_count), key=lambda ch: (-counts[ch], ch))
  return [vocab.PAD, vocab.OOV] + kept


def clip_word(word: str, max_chars: int) -> str:
  """The word itself if it fits, else its first ceil(W/2) and last floor(W/2) characters."""
  if len(word) <= max_chars:
    return word
  head = (max_chars + 1) // 2
  return word[:head] + word[len(word) - (max_chars - head):]


def encode_chars(tokens: list[str], char_index: dict[str, int], max_chars: int) -> np.ndarray:
  """[T, max_chars] character ids, zero-padded on the right."""
  out = np.zeros((len(tokens), max_chars), np.int32)
  for t, token in enumerate(tokens):
    ids = [char_index.get(ch, OOV_ID) for ch in clip_word(token, max_chars)]
    out[t, :len(ids)] = ids
  return out


def with_chars(word_ids_T: np.ndarray, tokens: list[str], char_index: dict[str, int],
               max_chars: int) -> np.ndarray:
  """[T, 1 + max_chars]: the word id, then the word's characters (tokens truncated alike)."""
  chars_TxW = encode_chars(tokens[:len(word_ids_T)], char_index, max_chars)
  return np.concatenate([word_ids_T[:, None], chars_TxW], axis=1)


def check_max_word_chars(value) -> int:
  if not isinstance(value, int) or value < 0:
    raise ConfigError(f"config key data.max_word_chars must be 0 (no character input) or a "
                      f"positive integer, got {value!r}")
  return value
