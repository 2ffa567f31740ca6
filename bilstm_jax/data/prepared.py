"""Prepared data: written once with TensorFlow at hand, read by training runs without it.

Every local-folder builder writes TFDS's `array_record` files (catalog datasets are asked for
the same), and a run reads them through the TFDS data source: random access into numpy and
bytes, no tf.data, so a training process on prepared data never imports TensorFlow. Speech
features (tf.signal) are cached as .npz next to them (data/speech.py). A step that needs
TensorFlow (decoding wavs, computing features, a catalog builder) calls `need_tensorflow`
first: on a machine without it the run stops with one error that names the command which
prepares the data where TensorFlow is installed (`bilstm-prepare`, the `[prepare]` extra).
"""

from __future__ import annotations

import importlib.util
import shlex

import numpy as np

from bilstm_jax.config import ConfigError

FILE_FORMAT = "array_record"
PREPARE_EXTRA = "pip install 'bilstm_jax[prepare]'"


class NotPrepared(ConfigError):
  """Data a run needs is not prepared, and this process cannot prepare it (no TensorFlow)."""


def tensorflow_installed() -> bool:
  return importlib.util.find_spec("tensorflow") is not None


def need_tensorflow(what: str) -> None:
  """Raises NotPrepared unless TensorFlow can be imported to prepare `what`."""
  if not tensorflow_installed():
    raise NotPrepared(
        f"{what} is not prepared, and preparing it needs TensorFlow, which is not installed "
        f"here. Prepare it once where it is ({PREPARE_EXTRA}) with `bilstm-prepare` and this "
        "run's --config flags, with the same data.cache_dir (and data.tfds_data_dir)")


def prepare_command(argv: list[str]) -> str:
  """The `bilstm-prepare` command for a `bilstm-train` command line: its config flags only."""
  kept, skip = [], False
  for arg in argv[1:]:
    if skip:
      skip = False
      continue
    if arg == "--workdir":
      skip = True  # its value follows
      continue
    if arg.startswith("--workdir="):
      continue
    kept.append(arg)
  return shlex.join(["bilstm-prepare", *kept])


def _as_numpy(value):
  """A data source's value as tf.data's numpy gives it: sequences come as lists there."""
  if isinstance(value, list):
    is_text = bool(value) and isinstance(value[0], bytes)
    return np.array(value, dtype=object) if is_text else np.asarray(value)
  return value


def read_split(builder, tfds_split: str) -> list[dict]:
  """Every example of a prepared split (numpy arrays, bytes for text), in stored order."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  if str(builder.info.file_format.value) == FILE_FORMAT:
    source = builder.as_data_source(split=tfds_split)
    return [{key: _as_numpy(value) for key, value in ex.items()}
            for ex in source.__getitems__(range(len(source)))]
  # A copy prepared before array_record was the format (or by `tfds build` without
  # --file_format): tf.data reads it where TensorFlow is installed.
  if not tensorflow_installed():
    raise NotPrepared(
        f"{builder.name} in {builder.data_dir} is stored as {builder.info.file_format.value}, "
        f"which needs TensorFlow to read; prepare it again as {FILE_FORMAT} where TensorFlow is "
        f"installed ({PREPARE_EXTRA}) with `bilstm-prepare` and this run's --config flags (a "
        f"catalog dataset: `tfds build {builder.name} --file_format={FILE_FORMAT}`)")
  return list(tfds.as_numpy(builder.as_dataset(split=tfds_split, shuffle_files=False)))
