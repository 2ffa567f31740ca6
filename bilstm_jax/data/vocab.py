"""Token and label vocabularies from the training split, saved in and reused from the workdir."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Callable, Iterable

import numpy as np

from bilstm_jax import files
from bilstm_jax.config import ConfigError

PAD, OOV = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1
OOV_LABEL = "<unk>"  # the extra label that data.unseen_label='oov' maps unseen labels to
VOCAB_FILE, LABELS_FILE = "vocab.json", "labels.json"


def tokenize(text: str, lowercase: bool) -> list[str]:
  """Whitespace tokens of a sentence (the files are already tokenised)."""
  return (text.lower() if lowercase else text).split()


def build_vocab(token_lists: Iterable[list[str]], min_count: int, max_vocab: int) -> list[str]:
  """[pad, oov, most frequent tokens...]: at most `max_vocab` entries in all, ties by token."""
  if max_vocab < 3 or min_count < 1:
    raise ConfigError(f"config keys data.max_vocab={max_vocab} (counts pad and OOV, so >= 3) and "
                      f"data.min_count={min_count} (>= 1) are out of range")
  counts = collections.Counter(t for tokens in token_lists for t in tokens)
  kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
  return [PAD, OOV] + kept[:max_vocab - 2]


def _label_order(label: str):
  # Numeric labels sort by value (SST's 0..4 keep their ids), others alphabetically.
  return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def build_labels(labels: Iterable[str], add_oov: bool) -> list[str]:
  """Sorted training labels, plus OOV_LABEL last when unseen labels map to it."""
  names = sorted(set(labels), key=_label_order)
  return names + [OOV_LABEL] if add_oov else names


def load_or_build(workdir: str | None, filename: str, settings: dict,
                  build: Callable[[], list[str]]) -> list[str]:
  """The names saved in workdir/filename if present (resumed and eval runs see the same ids),
  else built now and saved there. `settings` are the config values the names depend on."""
  path = os.path.join(workdir, filename) if workdir else None
  if path and os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    for key, value in settings.items():
      if saved["settings"].get(key) != value:
        raise ConfigError(f"{path} was built with data.{key}={saved['settings'].get(key)!r} but "
                          f"config key data.{key}={value!r}; use a fresh workdir or delete {path}")
    return saved["names"]
  names = build()
  if path:
    # Atomic: a preempted run never leaves half a file.
    files.atomic_write_json(path, {"settings": settings, "names": names}, indent=1)
  return names


def encode_tokens(tokens: list[str], index: dict[str, int], max_tokens: int) -> np.ndarray:
  if max_tokens > 0:
    tokens = tokens[:max_tokens]
  return np.array([index.get(t, OOV_ID) for t in tokens], np.int32)


def label_ids(labels: list[str], index: dict[str, int], split: str, where: str) -> list[int]:
  """Label ids; an unknown label is OOV_LABEL when the vocabulary has it, else a ConfigError."""
  ids = []
  for label in labels:
    if label is None:
      raise ConfigError(f"{where}: the {split!r} split has a hidden label (-1)")
    if label not in index:
      if OOV_LABEL not in index:
        raise ConfigError(f"label {label!r} of the {split!r} split ({where}) does not occur in "
                          "the training split; set config key data.unseen_label='oov' to map "
                          f"such labels to {OOV_LABEL!r}")
      label = OOV_LABEL
    ids.append(index[label])
  return ids
