"""TFDS builders that read local folders in the formats named by config key data.format."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import prepared
from bilstm_jax.data.builders import prepare_lock

# Our split names -> the TFDS split names the text builders write.
TFDS_SPLITS = {"train": "train", "val": "validation", "test": "test"}


class Example(NamedTuple):
  """One raw example: a sentence (str) or its tokens (list[str]), its label(s), and where it is;
  tagging examples may also carry token features (one list per feature column, like tokens)."""
  input: str | list[str]
  label: str | list[str]
  where: str  # "file:line" or "tfds_name split[i]", for error messages
  features: list[list[str]] | None = None


class LocalSource:
  """Mixin for builders that read local files: there is nothing to download or checksum."""

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> None:
    # TFDS looks for a checksums file next to the builder's code, and that lookup imports
    # importlib_resources, which TFDS only declares for Python < 3.9; local files need no checksums.
    return None


def read_lines(path: str) -> Iterator[tuple[int, str]]:
  """(1-based line number, line without its newline) of a plain or .gz file.

  Lines are UTF-8; a line that is not (TREC has one 0xF0 byte, rt-polarity is Windows-1252) is
  decoded as latin-1, which maps every byte to one character, so the result never depends on
  the locale and never fails.
  """
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    yield from decode_lines(f)


def decode_lines(raw_lines) -> Iterator[tuple[int, str]]:
  """(1-based line number, text) of byte lines, as read_lines decodes them."""
  for lineno, raw in enumerate(raw_lines, start=1):
    try:
      line = raw.decode("utf-8")
    except UnicodeDecodeError:
      line = raw.decode("latin-1")
    yield lineno, line.rstrip("\r\n")


def feature_names(value: str | None) -> list[str]:
  """Config key data.feature_columns ('1,2', 'upos' or '') as its items, checked."""
  items = [item.strip() for item in (value or "").split(",")] if (value or "").strip() else []
  if any(not item for item in items) or len(set(items)) != len(items):
    raise ConfigError(f"config key data.feature_columns={value!r}: expected distinct columns "
                      "separated by commas, e.g. '1' or '1,2' (conll), 'upos' (conllu), or ''")
  return items


def fingerprint(source_dir: str, paths: list[str], **options) -> str:
  """A key for the prepared copy: changes with the folder, its files' sizes/mtimes, or options."""
  stats = []
  for path in sorted(paths):
    st = os.stat(path)
    stats.append((os.path.relpath(path, source_dir), st.st_size, st.st_mtime_ns))
  payload = {"source_dir": os.path.abspath(source_dir), "files": stats, **options}
  return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def source_folder(source_dir: str | None, expected: str) -> tuple[str, str]:
  """(folder, file-name prefix): source_dir is a folder, or a folder plus a file-name prefix.

  The prefix form (e.g. `sst/stsa.binary`) picks one file set where a folder holds several.
  """
  if not source_dir:
    raise ConfigError(f"config key data.source_dir is not set; expected a folder with {expected}")
  path = os.path.abspath(os.path.expanduser(source_dir))
  if os.path.isdir(path):
    return path, ""
  if os.path.isdir(os.path.dirname(path)):
    return os.path.dirname(path), os.path.basename(path)
  raise ConfigError(f"config key data.source_dir={source_dir!r} does not exist; expected a "
                    f"folder with {expected}")


def find_split_files(source_dir: str | None, pattern: re.Pattern, words: dict[str, str],
                     expected: str) -> tuple[str, dict[str, str]]:
  """(folder, {our split: path}) for files whose names match `pattern`.

  `pattern` has groups `prefix` (may be empty) and `word`; `words` maps a word to our split
  (e.g. dev -> val). Every split needs one file; a prefix shared by a train file picks the set.
  """
  folder, want_prefix = source_folder(source_dir, expected)
  sets: dict[str, dict[str, str]] = {}
  for name in sorted(os.listdir(folder)):
    match = pattern.fullmatch(name)
    if match is None or not os.path.isfile(os.path.join(folder, name)):
      continue
    prefix = match.group("prefix") or ""
    if want_prefix and prefix != want_prefix:
      continue
    split = words[match.group("word")]
    chosen = sets.setdefault(prefix, {})
    if split in chosen:
      raise ConfigError(f"config key data.source_dir={source_dir!r}: both {chosen[split]} and "
                        f"{name} are a {split} file; keep one")
    chosen[split] = name
  sets = {prefix: files for prefix, files in sets.items() if "train" in files}
  if not sets:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: no training file found; "
                      f"expected {expected}")
  if len(sets) > 1:
    options = ", ".join(os.path.join(folder, prefix) for prefix in sets)
    raise ConfigError(f"config key data.source_dir={source_dir!r} holds several file sets; set "
                      f"it to one folder/prefix: {options}")
  files = next(iter(sets.values()))
  if "test" not in files:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: {files['train']} has no "
                      f"matching test file; expected {expected}")
  return folder, {split: os.path.join(folder, name) for split, name in files.items()}


class LocalSplitsMixin:
  """For CoNLL-style builders over local files: info from the config, one split per file."""

  def _info(self) -> tfds.core.DatasetInfo:
    return self.create_dataset_info()

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    return {TFDS_SPLITS[split]: self._generate_examples(paths)
            for split, paths in self._files.items()}


def prepare(builder: tfds.core.DatasetBuilder) -> tfds.core.DatasetBuilder:
  """Writes the prepared copy once (array_record files); later runs just read it.

  A builder constructed after the copy was written has read its split info already; one
  constructed before (another worker finished writing since) goes through the lock, which
  reads it. So a prepared copy in a read-only folder is never locked. A builder whose examples
  need TensorFlow to make (NEEDS_TENSORFLOW: decoding wavs) stops with prepared.NotPrepared
  where it is not installed.
  """
  if builder.is_prepared() and builder.info.splits:
    return builder
  if getattr(builder, "NEEDS_TENSORFLOW", False):
    prepared.need_tensorflow(f"{builder.name} ({builder.builder_config.description}) in "
                             f"{builder.data_dir}")
  with prepare_lock.preparing(builder) as must_write:
    if must_write:
      try:
        builder.download_and_prepare(file_format=prepared.FILE_FORMAT)
      except AssertionError as err:
        # TFDS refuses a split that yields nothing; say which, in our terms.
        match = re.search(r'split "([^"]+)": No examples', str(err))
        if match is None:
          raise
        raise ConfigError(f"the {match.group(1)!r} split read from config key data.source_dir "
                          "is empty: its file has no examples") from None
  return builder


def read_split(builder: tfds.core.DatasetBuilder, tfds_split: str) -> list[dict]:
  """Every example of a prepared split, in source order (TFDS shuffles on write)."""
  examples = prepared.read_split(builder, tfds_split)
  examples.sort(key=lambda ex: int(ex["idx"]))
  return examples


def decode(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_tagged(builder: tfds.core.DatasetBuilder, files: dict[str, list[str]], tag_feature: str,
                feature_keys: tuple[str, ...] = ()) -> dict[str, list[Example]]:
  """{our split: (tokens, tags, file:line, features) per sentence} from a prepared tagging
  builder; `feature_keys` are the stored token features to return (None when there are none)."""
  def texts(values):
    return [decode(value) for value in values]

  return {split: [Example(texts(ex["tokens"]), texts(ex[tag_feature]),
                          f"{decode(ex['file'])}:{ex['line']}",
                          [texts(ex[k]) for k in feature_keys] if feature_keys else None)
                  for ex in read_split(builder, TFDS_SPLITS[split])]
          for split in files}
