"""TFDS builder for a Universal Dependencies folder: `*-ud-{train,dev,test}.conllu[.gz]`.

Config keys data.train_files/val_files/test_files name the files instead (see split_files.py);
data.label_column picks upos or xpos as the tags, and data.feature_columns may take the other
as a token feature.
"""

from __future__ import annotations

import collections
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders
from bilstm_jax.data.builders import split_files

EXPECTED = "*-ud-train.conllu, *-ud-dev.conllu (optional) and *-ud-test.conllu, plain or .gz"
PATTERN = re.compile(r"(?P<prefix>.+)-ud-(?P<word>train|dev|test)\.conllu(?:\.gz)?")
WORDS = {"train": "train", "dev": "val", "test": "test"}
LABEL_COLUMNS = ("upos", "xpos")
NUM_COLUMNS = 10  # ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC
FEATURES = collections.OrderedDict({
    "idx": np.int64,
    "line": np.int64,
    "file": tfds.features.Text(),
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
  """One prepared copy per file set and state: the config name is their fingerprint.

  It keeps TFDS's CoNLL-U config and info but reads the files itself: the base parser needs the
  `conllu` package, opens no .gz, keeps multiword-token rows as extra tokens, and its errors
  name no file:line.
  """

  name = "conllu_folder"
  # 1.2.0: array_record files, read without TensorFlow (data/prepared.py).
  # 1.1.0: examples name their file (a split may read several).
  VERSION = tfds.core.Version("1.2.0")

  def __init__(self, *, files: dict[str, list[str]], key: str, **kwargs):
    self._files = files
    config = tfds.dataset_builders.ConllUBuilderConfig(
        name=key, features=FEATURES, language="", description=str(files))
    super().__init__(config=config, **kwargs)

  def _generate_examples(self, paths):
    idx = 0
    for path in paths:
      for line, forms, upos, xpos in parse_conllu(path):
        yield idx, {"idx": idx, "line": line, "file": path, "tokens": forms, "upos": upos,
                    "xpos": xpos}
        idx += 1


def read_conllu_folder(source_dir: str | None, label_column: str, data_dir: str, *,
                       feature_columns: str = "", file_keys: dict[str, str] | None = None
                       ) -> dict[str, list[builders.Example]]:
  """{'train', 'test', maybe 'val'} -> (tokens, tags of `label_column`, file:line, features)."""
  if label_column not in LABEL_COLUMNS:
    raise ConfigError(f"config key data.label_column={label_column!r}: for data.format=conllu "
                      f"allowed: {', '.join(LABEL_COLUMNS)}")
  features = tuple(builders.feature_names(feature_columns))
  allowed = [name for name in LABEL_COLUMNS if name != label_column]
  if any(name not in allowed for name in features):
    raise ConfigError(f"config key data.feature_columns={feature_columns!r}: for "
                      f"data.format=conllu with data.label_column={label_column!r} allowed: "
                      f"{', '.join(allowed)}")
  folder, files, options = split_files.locate(source_dir, file_keys, PATTERN, WORDS, EXPECTED)
  key = builders.fingerprint(folder, [p for paths in files.values() for p in paths], **options)
  builder = builders.prepare(ConllUFolder(files=files, key=key, data_dir=data_dir))
  return builders.read_tagged(builder, files, label_column, features)
