"""TFDS builder for a local folder of wav files labelled by metadata.csv or by the file names.

Labels: if `source_dir/metadata.csv` exists, its `filename` column (relative to source_dir)
lists the examples and the column named by config key data.label_field holds the label; wav
files it does not list are ignored. Otherwise every *.wav under source_dir is an example and
data.label_regex (named group `label`) is searched in its base name.

Splits: the CSV's optional `split` column (train | val | validation | test). Without one, the
FSDD rule is applied to every file: a name ending in `_{index}.wav` is test for index 0-4 and
train otherwise (the official split of the Free Spoken Digit Dataset, `{digit}_{speaker}_
{index}.wav`); a name without a trailing index is an error. A missing validation split is
carved from train later, by the loader.

Audio is decoded with tf.audio.decode_wav (16-bit PCM only), averaged to mono and stored as
int16 at its own sample rate; resampling is a feature setting, not part of the prepared data.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data.builders import LocalSource, fingerprint, prepare

METADATA_FILE = "metadata.csv"
SPLIT_NAMES = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
FSDD_INDEX = re.compile(r"_(\d+)\.wav$", re.IGNORECASE)
FSDD_TEST_INDICES = range(5)


@dataclasses.dataclass(frozen=True)
class Listing:
  """The examples of a folder and the hash that names its prepared copy."""
  source_dir: str
  items: tuple[tuple[str, str, str], ...]  # (path relative to source_dir, label, TFDS split)
  label_names: tuple[str, ...]
  key: str


def fsdd_split(filename: str) -> str | None:
  """'7_jackson_3.wav' -> 'test' (index 0-4), '7_jackson_32.wav' -> 'train', else None."""
  match = FSDD_INDEX.search(os.path.basename(filename))
  if match is None:
    return None
  return "test" if int(match.group(1)) in FSDD_TEST_INDICES else "train"


def _label_order(label: str):
  # Numeric labels sort by value, so FSDD's digit d gets class id d.
  return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _rows_from_csv(source_dir: str, label_field: str) -> list[tuple[str, str, str | None]]:
  path = os.path.join(source_dir, METADATA_FILE)
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    for needed, key in (("filename", None), (label_field, "data.label_field")):
      if needed not in columns:
        where = f"config key {key}={needed!r}: " if key else ""
        raise ConfigError(f"{where}{path} has no column {needed!r}; columns: "
                          + ", ".join(columns))
    has_split = "split" in columns
    return [(row["filename"], row[label_field], row["split"] if has_split else None)
            for row in reader]


def _rows_from_names(source_dir: str, label_regex: str) -> list[tuple[str, str, None]]:
  try:
    pattern = re.compile(label_regex)
  except re.error as err:
    raise ConfigError(f"config key data.label_regex={label_regex!r} is not a regex: {err}")
  if "label" not in pattern.groupindex:
    raise ConfigError(f"config key data.label_regex={label_regex!r} has no named group "
                      "(?P<label>...)")
  rows = []
  for root, dirs, files in os.walk(source_dir):
    dirs.sort()
    for name in sorted(files):
      if not name.lower().endswith(".wav"):
        continue
      match = pattern.search(name)
      if match is None:
        raise ConfigError(f"config key data.label_regex={label_regex!r} does not match "
                          f"{os.path.join(root, name)}")
      rows.append((os.path.relpath(os.path.join(root, name), source_dir), match["label"], None))
  return rows


def list_folder(source_dir: str, label_field: str, label_regex: str) -> Listing:
  """Reads labels and splits; raises ConfigError for anything a user has to fix."""
  source_dir = os.path.abspath(os.path.expanduser(source_dir))
  if not os.path.isdir(source_dir):
    raise ConfigError(f"config key data.source_dir={source_dir!r} is not a directory")
  csv_path = os.path.join(source_dir, METADATA_FILE)
  if os.path.exists(csv_path):
    rows, origin = _rows_from_csv(source_dir, label_field), csv_path
    hashed, options = [csv_path], {"label_field": label_field}
  else:
    rows, origin = _rows_from_names(source_dir, label_regex), f"data.label_regex={label_regex!r}"
    hashed, options = [], {"label_regex": label_regex}
  if not rows:
    raise ConfigError(f"config key data.source_dir={source_dir!r}: no wav files found")

  items = []
  for rel, label, split in rows:
    path = os.path.join(source_dir, rel)
    if not os.path.isfile(path):
      raise ConfigError(f"{csv_path} lists {rel!r}, which does not exist")
    if split is None:
      tfds_split = fsdd_split(rel)
      if tfds_split is None:
        raise ConfigError(f"{path}: no split for this file; its name has no trailing "
                          f"_<index> for the FSDD rule, so add a 'split' column to {csv_path}")
    elif split.strip().lower() in SPLIT_NAMES:
      tfds_split = SPLIT_NAMES[split.strip().lower()]
    else:
      raise ConfigError(f"{csv_path}: {rel!r} has split {split!r}; allowed: "
                        + ", ".join(SPLIT_NAMES))
    items.append((rel, label, tfds_split))
    hashed.append(path)
  for needed in ("train", "test"):
    if not any(s == needed for _, _, s in items):
      raise ConfigError(f"config key data.source_dir={source_dir!r}: no {needed} examples "
                        f"(labels and splits from {origin})")

  key = fingerprint(source_dir, hashed, version=str(AudioFolder.VERSION), **options)
  label_names = tuple(sorted({label for _, label, _ in items}, key=_label_order))
  return Listing(source_dir, tuple(items), label_names, key)


def read_wav(path: str) -> tuple[np.ndarray, int]:
  """A 16-bit PCM wav -> (int16 mono samples, sample rate); channels are averaged."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel (only preparing decodes wavs)

  try:
    audio_SxC, rate = tf.audio.decode_wav(tf.io.read_file(path))
  except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
    raise ConfigError(f"{path}: cannot decode as a 16-bit PCM wav: {err.message}") from None
  except UnicodeDecodeError:
    # TensorFlow quotes a bad header's bytes in its message, which then fails to decode.
    raise ConfigError(f"{path}: cannot decode as a 16-bit PCM wav: no RIFF/WAVE header") from None
  # decode_wav scales int16 by 1/32768, so this round trip is exact for mono files.
  audio_S = np.round(audio_SxC.numpy().mean(axis=1) * 32768.0)
  return np.clip(audio_S, -32768, 32767).astype(np.int16), int(rate)


class AudioFolder(LocalSource, tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """One prepared copy per folder state: the config name is Listing.key."""

  NEEDS_TENSORFLOW = True  # read_wav decodes with tf.audio (builders.prepare checks)

  # 1.1.0: array_record files, read without TensorFlow (data/prepared.py)
  VERSION = tfds.core.Version("1.1.0")

  def __init__(self, *, listing: Listing, **kwargs):
    self._listing = listing
    config = tfds.core.BuilderConfig(name=listing.key, description=listing.source_dir)
    super().__init__(config=config, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"wav files from {self._listing.source_dir}",
        features=tfds.features.FeaturesDict({
            # Raw bytes: 2 bytes a sample, not an int64 varint list (2.7x larger). A Tensor,
            # since tfds.features.Audio skips the byte encoding for numpy input.
            "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16, encoding="bytes"),
            "sample_rate": tfds.features.Scalar(dtype=np.int32),
            "label": tfds.features.ClassLabel(names=list(self._listing.label_names)),
            "filename": tfds.features.Text(),
        }),
        supervised_keys=("audio", "label"),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    splits = sorted({split for _, _, split in self._listing.items})
    return {split: self._generate_examples(split) for split in splits}

  def _generate_examples(self, split):
    for rel, label, item_split in self._listing.items:
      if item_split == split:
        audio_S, rate = read_wav(os.path.join(self._listing.source_dir, rel))
        yield rel, {"audio": audio_S, "sample_rate": rate, "label": label, "filename": rel}


def prepare_audio_folder(source_dir: str, data_dir: str, label_field: str,
                         label_regex: str) -> AudioFolder:
  """The prepared builder for the folder's current state (prepared now if it is new)."""
  return prepare(AudioFolder(listing=list_folder(source_dir, label_field, label_regex),
                             data_dir=data_dir))
