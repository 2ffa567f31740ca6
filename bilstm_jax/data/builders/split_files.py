"""Files named in the config (data.train_files/val_files/test_files, data.class_files)."""

from __future__ import annotations

import glob
import os
import re

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders

SPLIT_KEYS = {"train": "train_files", "val": "val_files", "test": "test_files"}
CLASS_FILES_EXAMPLE = "'pos=rt-polarity.pos,neg=rt-polarity.neg'"


def _items(key: str, value: str) -> list[str]:
  items = [item.strip() for item in value.split(",")]
  if any(not item for item in items):
    raise ConfigError(f"config key data.{key}={value!r} has an empty item; expected paths or "
                      "globs separated by commas")
  return items


def _folder(source_dir: str | None) -> str | None:
  """data.source_dir as the folder relative names start from (None: absolute names only)."""
  if not source_dir:
    return None
  folder = os.path.abspath(os.path.expanduser(source_dir))
  if not os.path.isdir(folder):
    raise ConfigError(f"config key data.source_dir={source_dir!r} is not a folder; with explicit "
                      "file keys it is the folder their relative names start from")
  return folder


def _expand(folder: str | None, key: str, pattern: str) -> list[str]:
  """The files a path or glob names, sorted; one that names none is an error."""
  path = os.path.expanduser(pattern)
  if not os.path.isabs(path):
    if folder is None:
      raise ConfigError(f"config key data.{key}: {pattern!r} is relative but data.source_dir "
                        "is not set; set it or give an absolute path")
    path = os.path.join(folder, path)
  matches = sorted(os.path.normpath(p) for p in glob.glob(path) if os.path.isfile(p))
  if not matches:
    raise ConfigError(f"config key data.{key}: {pattern!r} matches no file (looked for {path})")
  return matches


def _expand_all(folder: str | None, key: str, value: str) -> list[str]:
  """Every file of every item, once each, in sorted order (so the listing order never counts)."""
  return sorted({p for item in _items(key, value) for p in _expand(folder, key, item)})


def _no_overlap(groups: dict[str, list[str]], describe) -> None:
  seen = {}
  for name, paths in groups.items():
    for path in paths:
      if path in seen:
        raise ConfigError(f"{path} is named by both {describe(seen[path])} and "
                          f"{describe(name)}; each file belongs to one")
      seen[path] = name


def _options(folder: str | None, groups: dict[str, list[str]]) -> tuple[str, dict]:
  """(folder the fingerprint is relative to, the file lists as a fingerprint option): a file
  moved to another split or class changes the key, not only an added or changed file."""
  paths = [p for group in groups.values() for p in group]
  base = folder or os.path.commonpath([os.path.dirname(p) for p in paths])
  return base, {"files": {name: [os.path.relpath(p, base) for p in group]
                          for name, group in sorted(groups.items())}}


def locate(source_dir: str | None, file_keys: dict[str, str] | None, pattern: re.Pattern,
           words: dict[str, str], expected: str) -> tuple[str, dict[str, list[str]], dict]:
  """(folder, {our split: paths}, fingerprint options): the files that config keys
  data.train_files/val_files/test_files name, or else the folder's file-name convention."""
  given = {split: value for split, value in (file_keys or {}).items() if value}
  if not given:
    folder, files = builders.find_split_files(source_dir, pattern, words, expected)
    return folder, {split: [path] for split, path in files.items()}, {}
  if "train" not in given or "test" not in given:
    raise ConfigError("config keys data.train_files and data.test_files are both needed once "
                      "one of data.train_files/val_files/test_files is set (data.val_files is "
                      f"optional: validation is then carved from train); got {given}")
  folder = _folder(source_dir)
  files = {split: _expand_all(folder, SPLIT_KEYS[split], value) for split, value in given.items()}
  _no_overlap(files, lambda split: f"data.{SPLIT_KEYS[split]}")
  base, options = _options(folder, files)
  return base, files, options


def class_files(source_dir: str | None, value: str) -> tuple[str, dict[str, list[str]], dict]:
  """(folder, {class: paths}, fingerprint options) from data.class_files='<class>=<files>,...'."""
  folder = _folder(source_dir)
  patterns: dict[str, list[str]] = {}
  for item in _items("class_files", value):
    label, eq, pattern = (part.strip() for part in item.partition("="))
    if not (label and eq and pattern):
      raise ConfigError(f"config key data.class_files: {item!r} is not <class>=<file or glob>; "
                        f"expected e.g. {CLASS_FILES_EXAMPLE}")
    patterns.setdefault(label, []).append(pattern)
  if len(patterns) < 2:
    raise ConfigError(f"config key data.class_files={value!r} names {len(patterns)} class; "
                      f"expected two or more, e.g. {CLASS_FILES_EXAMPLE}")
  files = {label: sorted({p for pattern in group for p in _expand(folder, "class_files", pattern)})
           for label, group in patterns.items()}
  _no_overlap(files, lambda label: f"class {label!r} of data.class_files")
  base, options = _options(folder, files)
  return base, files, options
