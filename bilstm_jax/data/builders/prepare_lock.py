"""One writer per prepared dataset: parallel runs of a sweep may open the same folder at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

import tensorflow_datasets as tfds
from tensorflow_datasets.core import dataset_info


@contextlib.contextmanager
def preparing(builder: tfds.core.DatasetBuilder) -> Iterator[bool]:
  """Holds an exclusive lock next to the builder's data_dir; yields whether to write it.

  Without the lock two workers that both see "not prepared" write it twice, and TFDS fails the
  second rename with FileExistsError. The waiter finds it prepared and only reads the info the
  writer left (the builder was constructed before that info existed).
  """
  os.makedirs(os.path.dirname(builder.data_dir), exist_ok=True)
  # "<version>.lock" beside the version folder: TFDS lists only valid version names there.
  with open(f"{builder.data_dir}.lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if the writer dies
    if builder.is_prepared():
      read_info(builder)
      yield False
    else:
      yield True


def read_info(builder: tfds.core.DatasetBuilder) -> None:
  """Loads the info a writer left into a builder constructed before it existed.

  TFDS's read_from_directory keeps the file format the builder was constructed with (its
  tfrecord default) over the stored one, so the waiter would read array_record files as
  tfrecord; the stored format is set again here.
  """
  builder.info.read_from_directory(builder.data_dir)
  stored = dataset_info.read_from_json(dataset_info.dataset_info_path(builder.data_dir))
  builder.info.set_file_format(stored.file_format or "tfrecord", override=True,
                               override_if_initialized=True)
