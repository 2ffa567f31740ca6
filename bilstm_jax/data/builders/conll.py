"""TFDS builder for CoNLL column files (NER, chunking): one token per line, blank between sentences.

Accepted file names, in one folder, optionally `<prefix>.`-prefixed (CoNLL-2002/3's `eng.testa`),
with an optional `.txt` and then `.gz`: train `train`; validation `dev`, `valid` or `testa`
(optional); test `test` or `testb`. Columns are split on any whitespace; column 0 is the token and
config key data.label_column (an integer, e.g. -1) the tag; `-DOCSTART-` lines are skipped.
"""

from __future__ import annotations

import collections
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders

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


def parse_conll(path: str, label_column: int):
  """Yields (first line, tokens, tags) per sentence; every token line has the same columns."""
  start, tokens, tags, num_columns = None, [], [], None
  for lineno, line in builders.read_lines(path):
    columns = line.split()
    if not columns or columns[0] == "-DOCSTART-":
      if tokens:
        yield start, tokens, to_iob2(tags)
      start, tokens, tags = None, [], []
      continue
    if num_columns is None:
      num_columns = len(columns)
      if not -num_columns <= label_column < num_columns or num_columns < 2:
        raise ConfigError(f"config key data.label_column={label_column}: {path}:{lineno} has "
                          f"{num_columns} columns (token first, then at least one tag)")
    elif len(columns) != num_columns:
      raise ConfigError(f"{path}:{lineno}: expected {num_columns} whitespace-separated columns "
                        f"like the first token line, found {len(columns)}")
    start = start or lineno
    tokens.append(columns[0])
    tags.append(columns[label_column])
  if tokens:
    yield start, tokens, to_iob2(tags)


class ConllFolder(builders.LocalSource, builders.LocalSplitsMixin,
                  tfds.dataset_builders.ConllDatasetBuilder,
                  skip_registration=True):
  """One prepared copy per folder state and label column: the config name is their fingerprint.

  It keeps TFDS's CoNLL config and info but reads the files itself: the base parser splits on one
  fixed separator with a fixed column count, opens no .gz, yields an empty sentence at the end
  of a file that ends in a blank line, and its errors name no file:line.
  """

  name = "conll_folder"
  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, files: dict[str, str], label_column: int, key: str, **kwargs):
    self._files = files
    self._label_column = label_column
    config = tfds.dataset_builders.ConllBuilderConfig(
        name=key, separator=None, ordered_features=FEATURES, description=str(files))
    super().__init__(config=config, **kwargs)

  def _generate_examples(self, path):
    for idx, (line, tokens, tags) in enumerate(parse_conll(path, self._label_column)):
      yield idx, {"idx": idx, "line": line, "tokens": tokens, "tags": tags}


def read_conll_folder(source_dir: str | None, label_column: str,
                      data_dir: str) -> dict[str, list[builders.Example]]:
  """{'train', 'test', maybe 'val'} -> (tokens, tags, file:line) per sentence."""
  try:
    column = int(label_column)
  except ValueError:
    raise ConfigError(f"config key data.label_column={label_column!r}: for data.format=conll "
                      "it is a column index, e.g. '-1' for the last column") from None
  folder, files = builders.find_split_files(source_dir, PATTERN, WORDS, EXPECTED)
  key = builders.fingerprint(folder, list(files.values()), label_column=column)
  builder = builders.prepare(
      ConllFolder(files=files, label_column=column, key=key, data_dir=data_dir))
  return builders.read_tagged(builder, files, "tags")
