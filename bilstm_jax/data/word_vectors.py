"""Pretrained word vectors (GloVe or word2vec text format) as an embedding table for a vocabulary.

Both formats are one word per line followed by its numbers, separated by spaces; word2vec adds
a first line "<count> <dim>". The word is everything before the last `dim` fields, so the few
GloVe entries that contain spaces still parse. A vocabulary word is looked up as written, then
lowercased; words the file lacks get random rows drawn with the standard deviation of the rows
that were found, so they start on the same scale.
"""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np

from bilstm_jax.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Coverage:
  vocab_size: int
  exact: int  # vocabulary words found as written
  lowercased: int  # found only in lowercase

  def __str__(self) -> str:
    found = self.exact + self.lowercased
    return (f"{found}/{self.vocab_size} vocabulary words have vectors ({self.exact} exact, "
            f"{self.lowercased} lowercased); the rest are random")


def _open(path: str):
  return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(
      path, encoding="utf-8")


def _parse_vector(fields: list[str], where: str) -> np.ndarray:
  try:
    return np.array([float(v) for v in fields], np.float32)
  except ValueError:
    raise ConfigError(f"{where}: a vector value is not a number") from None


def load_word_vectors(path: str, token_names: list[str], dim: int,
                      seed: int = 0) -> tuple[np.ndarray, Coverage]:
  """[len(token_names), dim] float32 rows: the file's vector for each word, random otherwise.

  Args:
    path: text-format vector file (optionally .gz), the value of config key model.word_vectors.
    token_names: the vocabulary in id order (pad and OOV first; they get random rows too).
    dim: the embedding width (config key model.embed_dim); every vector must have it.
    seed: seeds the random rows, so a run's initial table is a function of its seed.
  """
  wanted = {}  # word as the file might spell it -> (vocab ids, exact?)
  for i, name in enumerate(token_names):
    wanted.setdefault(name, []).append((i, True))
  for i, name in enumerate(token_names):
    if name.lower() != name:
      wanted.setdefault(name.lower(), []).append((i, False))
  rows = np.zeros((len(token_names), dim), np.float32)
  how = np.zeros(len(token_names), np.int8)  # 0 missing, 1 lowercased, 2 exact
  try:
    with _open(path) as f:
      for line_no, line in enumerate(f, 1):
        fields = line.rstrip("\n").rstrip(" ").split(" ")
        where = f"{path}:{line_no}"
        if line_no == 1 and len(fields) == 2 and all(v.isdigit() for v in fields):
          if int(fields[1]) != dim:
            raise ConfigError(f"{where}: the word2vec header says {fields[1]}-dimensional "
                              f"vectors but config key model.embed_dim={dim}")
          continue
        if len(fields) <= dim:
          raise ConfigError(f"{where}: expected a word and {dim} numbers (config key "
                            f"model.embed_dim={dim}), got {len(fields)} fields")
        word = " ".join(fields[:-dim])
        if word not in wanted:
          continue
        vector = None
        for i, exact in wanted[word]:
          if how[i] < (2 if exact else 1):
            vector = _parse_vector(fields[-dim:], where) if vector is None else vector
            rows[i], how[i] = vector, 2 if exact else 1
  except OSError as err:
    raise ConfigError(f"config key model.word_vectors={path!r}: cannot read it ({err})") from None
  except UnicodeDecodeError as err:
    raise ConfigError(f"config key model.word_vectors={path!r} is not UTF-8 text ({err})") from None
  found = how > 0
  if not found.any():
    raise ConfigError(f"config key model.word_vectors={path!r}: none of the {len(token_names)} "
                      "vocabulary words occur in it")
  std = float(rows[found].std()) or 1.0
  missing = ~found
  rows[missing] = np.random.default_rng(seed).normal(0.0, std, (int(missing.sum()), dim))
  return rows, Coverage(len(token_names), int((how == 2).sum()), int((how == 1).sum()))
