"""TFDS builder for a Universal Dependencies folder: `*-ud-{train,dev,test}.conllu[.gz]`."""

from __future__ import annotations

import collections
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders

EXPECTED = "*-ud-train.conllu, *-ud-dev.conllu (optional) and *-ud-test.conllu, plain or .gz"
PATTERN = re.compile(r"(?P<prefix>.+)-ud-(?P<word>train|dev|test)\.conllu(?:\.gz)?")
WORDS = {"train": "train", "dev": "val", "test": "test"}
LABEL_COLUMNS = ("upos", "xpos")
NUM_COLUMNS = 10  # ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC
FEATURES = collections.OrderedDict({
    "idx": np.int64,
    "line": np.int64,
    "tokens": tfds.features.Sequence(tfds.features.Text()),
    "upos": tfds.features.Sequence(tfds.features.Text()),
    "xpos": tfds.features.Sequence(tfds.features.Text()),
})


def parse_conllu(path: str):
  """Yields (first line, forms, upos, xpos) per sentence, over syntactic words only.

  Comment lines are skipped, and so are multiword-token ranges (`3-4`: their parts follow as
  words) and empty nodes (`5.1`: enhanced-graph only), so every word is counted exactly once.
  """
  start, forms, upos, xpos = None, [], [], []
  for lineno, line in builders.read_lines(path):
    if not line.strip():
      if forms:
        yield start, forms, upos, xpos
      start, forms, upos, xpos = None, [], [], []
      continue
    if line.startswith("#"):
      continue
    columns = line.split("\t")
    if len(columns) != NUM_COLUMNS:
      raise ConfigError(f"{path}:{lineno}: expected {NUM_COLUMNS} tab-separated CoNLL-U columns, "
                        f"found {len(columns)}")
    word_id = columns[0]
    if "-" in word_id or "." in word_id:
      continue
    if not word_id.isdigit():
      raise ConfigError(f"{path}:{lineno}: word ID {word_id!r} is not an integer, a range n-m "
                        "or an empty node n.k")
    start = start or lineno
    forms.append(columns[1])
    upos.append(columns[3])
    xpos.append(columns[4])
  if forms:
    yield start, forms, upos, xpos


class ConllUFolder(builders.LocalSource, builders.LocalSplitsMixin,
                   tfds.dataset_builders.ConllUDatasetBuilder,
                   skip_registration=True):
  """One prepared copy per folder state: the config name is the folder's fingerprint.

  It keeps TFDS's CoNLL-U config and info but reads the files itself: the base parser needs the
  `conllu` package, opens no .gz, keeps multiword-token rows as extra tokens, and its errors
  name no file:line.
  """

  name = "conllu_folder"
  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, files: dict[str, str], key: str, **kwargs):
    self._files = files
    config = tfds.dataset_builders.ConllUBuilderConfig(
        name=key, features=FEATURES, language="", description=str(files))
    super().__init__(config=config, **kwargs)

  def _generate_examples(self, path):
    for idx, (line, forms, upos, xpos) in enumerate(parse_conllu(path)):
      yield idx, {"idx": idx, "line": line, "tokens": forms, "upos": upos, "xpos": xpos}


def read_conllu_folder(source_dir: str | None, label_column: str,
                       data_dir: str) -> dict[str, list[builders.Example]]:
  """{'train', 'test', maybe 'val'} -> (tokens, tags of `label_column`, file:line) per sentence."""
  if label_column not in LABEL_COLUMNS:
    raise ConfigError(f"config key data.label_column={label_column!r}: for data.format=conllu "
                      f"allowed: {', '.join(LABEL_COLUMNS)}")
  folder, files = builders.find_split_files(source_dir, PATTERN, WORDS, EXPECTED)
  key = builders.fingerprint(folder, list(files.values()))
  builder = builders.prepare(ConllUFolder(files=files, key=key, data_dir=data_dir))
  return builders.read_tagged(builder, files, label_column)
