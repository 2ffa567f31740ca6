"""TFDS builder for sentence classification files: label_sentence (SST), trec and polarity.

File names (each may also end in `.gz`):
- label_sentence: `train`, `dev` (optional) and `test`, with an optional `.txt`, or
  `<prefix>.train|dev|test` (Kim 2014's `stsa.binary.train`); lines `<label> <sentence>`. Where a
  folder holds several prefixes, set data.source_dir to `<folder>/<prefix>`.
- trec: `train_5500.label` and `TREC_10.label`; lines `COARSE:fine question ...`. Config key
  data.label_field picks `coarse` (6 classes) or `fine` (50: `COARSE:fine`, as fine names such
  as `other` recur under several coarse classes).
- polarity: one file per class, one sentence per line: `<name>.pos` and `<name>.neg`
  (rt-polarity) or, when there are none, every `<class>.txt` but README.txt. The whole pool is
  the TFDS split `folds`; the loader cuts it into cross-validation folds. Config key
  data.class_files names them instead: `<class>=<file or glob>,...`.
Config keys data.train_files/val_files/test_files name label_sentence and trec files instead
(see split_files.py). Blank lines are skipped everywhere.
"""

from __future__ import annotations

import os
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders
from bilstm_jax.data.builders import split_files

LABEL_SENTENCE = re.compile(r"(?:(?P<prefix>.+)\.)?(?P<word>train|dev|test)(?:\.txt)?(?:\.gz)?")
LABEL_SENTENCE_EXPECTED = "train, dev (optional), test or <prefix>.train|dev|test (.txt, .gz ok)"
TREC = re.compile(r"(?P<prefix>)(?P<word>train_5500|TREC_10)\.label(?:\.gz)?")
TREC_EXPECTED = "train_5500.label and TREC_10.label (.gz ok)"
TREC_WORDS = {"train_5500": "train", "TREC_10": "test"}
POLARITY_EXPECTED = "one file per class: <name>.pos and <name>.neg, or <class>.txt (.gz ok)"
POLARITY_SPLIT = "folds"
TREC_LABEL_FIELDS = ("coarse", "fine")  # or the catalog's label-coarse / label-fine


def parse_label_sentence(path: str):
  """Yields (line, label, sentence) for `<label> <sentence>` lines."""
  for lineno, line in builders.read_lines(path):
    if not line.strip():
      continue
    parts = line.split(maxsplit=1)
    if len(parts) != 2:
      raise ConfigError(f"{path}:{lineno}: expected '<label> <sentence>', found {line!r}")
    yield lineno, parts[0], parts[1]


def parse_trec(path: str):
  """Yields (line, 'COARSE:fine', question) for TREC lines."""
  for lineno, line in builders.read_lines(path):
    if not line.strip():
      continue
    parts = line.split(maxsplit=1)
    coarse, colon, fine = parts[0].partition(":")
    if len(parts) != 2 or not (coarse and colon and fine):
      raise ConfigError(f"{path}:{lineno}: expected 'COARSE:fine question ...', found {line!r}")
    yield lineno, parts[0], parts[1]


def parse_polarity(path: str, label: str):
  """Yields (line, label, sentence): every non-blank line is one example of the file's class."""
  for lineno, line in builders.read_lines(path):
    if line.strip():
      yield lineno, label, line.strip()


def polarity_files(source_dir: str | None) -> tuple[str, dict[str, str]]:
  """(folder, {class: path}) under the rule in the module docstring."""
  folder, _ = builders.source_folder(source_dir, POLARITY_EXPECTED)
  names = sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
  found = {}
  for pattern in (r".+\.(?P<label>pos|neg)(?:\.gz)?", r"(?P<label>.+)\.txt(?:\.gz)?"):
    for name in names:
      match = re.fullmatch(pattern, name)
      if match is None or name.lower().startswith("readme."):
        continue
      if match["label"] in found:
        raise ConfigError(f"config key data.source_dir={source_dir!r}: {found[match['label']]} "
                          f"and {name} are both class {match['label']!r}; keep one")
      found[match["label"]] = name
    if found:
      break
  if len(found) < 2:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: found {len(found)} class "
                      f"files; expected {POLARITY_EXPECTED}")
  return folder, {label: os.path.join(folder, name) for label, name in found.items()}


class SentenceFolder(builders.LocalSource, tfds.core.GeneratorBasedBuilder,
                     skip_registration=True):
  """One prepared copy per folder state and format: the config name is their fingerprint."""

  name = "sentence_folder"
  # 1.1.0: array_record files, read without TensorFlow (data/prepared.py)
  VERSION = tfds.core.Version("1.1.0")

  def __init__(self, *, fmt: str, files: dict[str, list[str]], key: str, **kwargs):
    self._format = fmt
    self._files = files  # split -> paths; polarity: class -> paths
    config = tfds.core.BuilderConfig(name=key, description=f"{fmt}: {files}")
    super().__init__(config=config, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
        "idx": np.int64,
        "line": np.int64,
        "file": tfds.features.Text(),
        "label": tfds.features.Text(),
        "text": tfds.features.Text(),
    }))

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    if self._format == "polarity":
      return {POLARITY_SPLIT: self._generate_examples(
          [(label, path) for label, paths in sorted(self._files.items()) for path in paths])}
    return {builders.TFDS_SPLITS[split]: self._generate_examples([(None, p) for p in paths])
            for split, paths in self._files.items()}

  def _generate_examples(self, sources):
    idx = 0
    for label, path in sources:
      if self._format == "polarity":
        rows = parse_polarity(path, label)
      elif self._format == "trec":
        rows = parse_trec(path)
      else:
        rows = parse_label_sentence(path)
      for line, label_text, text in rows:
        yield idx, {"idx": idx, "line": line, "file": path, "label": label_text, "text": text}
        idx += 1


def read_sentence_folder(source_dir: str | None, fmt: str, label_field: str, data_dir: str, *,
                         file_keys: dict[str, str] | None = None,
                         class_files: str = "") -> dict[str, list[builders.Example]]:
  """{'train', 'test', maybe 'val'} (polarity: {'folds'}) -> (sentence, label, file:line)."""
  # The TFDS catalog's names for the same fields, so one config serves both sources.
  label_field = {"label-coarse": "coarse", "label-fine": "fine"}.get(label_field, label_field)
  if fmt == "trec" and label_field not in TREC_LABEL_FIELDS:
    raise ConfigError(f"config key data.label_field={label_field!r}: for data.format=trec "
                      f"allowed: {', '.join(TREC_LABEL_FIELDS)}")
  options = {}
  if fmt == "polarity" and class_files:
    folder, files, options = split_files.class_files(source_dir, class_files)
    tfds_splits = {POLARITY_SPLIT: POLARITY_SPLIT}
  elif fmt == "polarity":
    folder, files = polarity_files(source_dir)
    files = {label: [path] for label, path in files.items()}
    tfds_splits = {POLARITY_SPLIT: POLARITY_SPLIT}
  else:
    pattern, words, expected = {
        "trec": (TREC, TREC_WORDS, TREC_EXPECTED),
        "label_sentence": (LABEL_SENTENCE, {"train": "train", "dev": "val", "test": "test"},
                           LABEL_SENTENCE_EXPECTED),
    }[fmt]
    folder, files, options = split_files.locate(source_dir, file_keys, pattern, words, expected)
    tfds_splits = {split: builders.TFDS_SPLITS[split] for split in files}
  key = builders.fingerprint(folder, [p for paths in files.values() for p in paths], format=fmt,
                             **options)
  builder = builders.prepare(SentenceFolder(fmt=fmt, files=files, key=key, data_dir=data_dir))
  splits = {}
  for split, tfds_split in tfds_splits.items():
    splits[split] = []
    for ex in builders.read_split(builder, tfds_split):
      label = builders.decode(ex["label"])
      if fmt == "trec" and label_field == "coarse":
        label = label.partition(":")[0]
      where = f"{builders.decode(ex['file'])}:{ex['line']}"
      splits[split].append(builders.Example(builders.decode(ex["text"]), label, where))
  return splits
