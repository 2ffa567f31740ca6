"""TFDS builder for CoNLL column files (NER, chunking): one token per line, blank between sentences.

Accepted file names, in one folder, optionally `<prefix>.`-prefixed (CoNLL-2002/3's `eng.testa`),
with an optional `.txt` and then `.gz`: train `train`; validation `dev`, `valid` or `testa`
(optional); test `test` or `testb`. Columns are split on any whitespace; column 0 is the token and
config key data.label_column (an integer, e.g. -1) the tag, and data.feature_columns (e.g. '1'
or '1,2') the token features; `-DOCSTART-` lines are skipped. Config keys data.train_files,
data.val_files and data.test_files name the files instead (see split_files.py).
"""

from __future__ import annotations

import collections
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders
from bilstm_jax.data.builders import split_files

EXPECTED = ("train.txt, dev.txt|valid.txt|testa (optional) and test.txt|testb, optionally "
            "<prefix>.-prefixed, .txt and .gz optional")
PATTERN = re.compile(
    r"(?:(?P<prefix>.+)\.)?(?P<word>train|dev|valid|testa|test|testb)(?:\.txt)?(?:\.gz)?")
WORDS = {"train": "train", "dev": "val", "valid": "val", "testa": "val", "test": "test",
         "testb": "test"}
BIO_TAG = re.compile(r"O|[BI]-.+")
FEATURES = collections.OrderedDict({
    "idx": np.int64,
    "line": np.int64,
    "file": tfds.features.Text(),
    "tokens": tfds.features.Sequence(tfds.features.Text()),
    "tags": tfds.features.Sequence(tfds.features.Text()),
})


def to_iob2(tags: list[str]) -> list[str]:
  """IOB1 -> IOB2: a span that starts with I-X starts with B-X instead.

  IOB1 (the original CoNLL-2003 files) writes B-X only between two adjacent X spans; IOB2 starts
  every span with B-X. IOB2 input comes back unchanged, and so do tags that are not BIO-shaped.
  """
  if not all(BIO_TAG.fullmatch(tag) for tag in tags):
    return tags
  out, previous = [], "O"
  for tag in tags:
    if tag.startswith("I-") and previous[2:] != tag[2:]:
      tag = "B-" + tag[2:]
    out.append(tag)
    previous = tag
  return out


def check_columns(path: str, lineno: int, num_columns: int, label_column: int,
                  feature_columns: tuple[int, ...]) -> None:
  """The first token line of a file fixes its columns: the label and features must be in it."""
  if not -num_columns <= label_column < num_columns or num_columns < 2:
    raise ConfigError(f"config key data.label_column={label_column}: {path}:{lineno} has "
                      f"{num_columns} columns (token first, then at least one tag)")
  label = label_column % num_columns
  allowed = [i for i in range(1, num_columns) if i != label]
  for column in feature_columns:
    if not -num_columns <= column < num_columns or column % num_columns not in allowed:
      raise ConfigError(
          f"config key data.feature_columns={','.join(map(str, feature_columns))!r}: "
          f"{path}:{lineno} has {num_columns} columns; allowed feature columns: "
          f"{', '.join(map(str, allowed)) or 'none'} (0 is the token, {label} the label, "
          f"data.label_column={label_column})")


def parse_conll(path: str, label_column: int, feature_columns: tuple[int, ...] = ()):
  """Yields (first line, tokens, tags, features: a list per feature column) per sentence; every
  token line has the same columns."""
  start, tokens, tags, num_columns = None, [], [], None
  features = [[] for _ in feature_columns]
  for lineno, line in builders.read_lines(path):
    columns = line.split()
    if not columns or columns[0] == "-DOCSTART-":
      if tokens:
        yield start, tokens, to_iob2(tags), features
      start, tokens, tags = None, [], []
      features = [[] for _ in feature_columns]
      continue
    if num_columns is None:
      num_columns = len(columns)
      check_columns(path, lineno, num_columns, label_column, feature_columns)
    elif len(columns) != num_columns:
      raise ConfigError(f"{path}:{lineno}: expected {num_columns} whitespace-separated columns "
                        f"like the first token line, found {len(columns)}")
    start = start or lineno
    tokens.append(columns[0])
    tags.append(columns[label_column])
    for values, column in zip(features, feature_columns, strict=True):
      values.append(columns[column])
  if tokens:
    yield start, tokens, to_iob2(tags), features


class ConllFolder(builders.LocalSource, builders.LocalSplitsMixin,
                  tfds.dataset_builders.ConllDatasetBuilder,
                  skip_registration=True):
  """One prepared copy per file set and state, label and feature columns: the config name is
  their fingerprint.

  It keeps TFDS's CoNLL config and info but reads the files itself: the base parser splits on one
  fixed separator with a fixed column count, opens no .gz, yields an empty sentence at the end
  of a file that ends in a blank line, and its errors name no file:line.
  """

  name = "conll_folder"
  # 1.1.0: every example names its file (a split may read several), plus optional features.
  # 1.2.0: array_record files, read without TensorFlow (data/prepared.py)
  VERSION = tfds.core.Version("1.2.0")

  def __init__(self, *, files: dict[str, list[str]], label_column: int, key: str,
               feature_columns: tuple[int, ...] = (), **kwargs):
    self._files = files
    self._label_column = label_column
    self._feature_columns = feature_columns
    features = collections.OrderedDict(FEATURES)
    for i in range(len(feature_columns)):
      features[f"feature_{i}"] = tfds.features.Sequence(tfds.features.Text())
    config = tfds.dataset_builders.ConllBuilderConfig(
        name=key, separator=None, ordered_features=features, description=str(files))
    super().__init__(config=config, **kwargs)

  def _generate_examples(self, paths):
    idx = 0
    for path in paths:
      for line, tokens, tags, features in parse_conll(path, self._label_column,
                                                      self._feature_columns):
        yield idx, {"idx": idx, "line": line, "file": path, "tokens": tokens, "tags": tags,
                    **{f"feature_{i}": values for i, values in enumerate(features)}}
        idx += 1


def read_conll_folder(source_dir: str | None, label_column: str, data_dir: str, *,
                      feature_columns: str = "",
                      file_keys: dict[str, str] | None = None) -> dict[str, list[builders.Example]]:
  """{'train', 'test', maybe 'val'} -> (tokens, tags, file:line, features) per sentence."""
  try:
    column = int(label_column)
  except ValueError:
    raise ConfigError(f"config key data.label_column={label_column!r}: for data.format=conll "
                      "it is a column index, e.g. '-1' for the last column") from None
  names = builders.feature_names(feature_columns)
  try:
    features = tuple(int(name) for name in names)
  except ValueError:
    raise ConfigError(f"config key data.feature_columns={feature_columns!r}: for "
                      "data.format=conll these are column indices, e.g. '1' or '1,2'") from None
  folder, files, options = split_files.locate(source_dir, file_keys, PATTERN, WORDS, EXPECTED)
  if features:
    options["feature_columns"] = features
  key = builders.fingerprint(folder, [p for paths in files.values() for p in paths],
                             label_column=column, **options)
  builder = builders.prepare(ConllFolder(files=files, label_column=column, key=key,
                                         feature_columns=features, data_dir=data_dir))
  return builders.read_tagged(builder, files, "tags",
                              tuple(f"feature_{i}" for i in range(len(features))))
