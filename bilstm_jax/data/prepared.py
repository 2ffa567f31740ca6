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

import functools
import importlib.util
import shlex
from collections.abc import Iterator

import numpy as np

from bilstm_jax.config import ConfigError

FILE_FORMAT = "array_record"
PREPARE_EXTRA = "pip install 'bilstm_jax[prepare]'"
READ_CHUNK = 1024  # examples decoded per data-source read: a few MB of audio at most


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


def _plain_features(features) -> dict[str, tuple[np.dtype, bool]] | None:
  """{key: (numpy dtype, is a sequence)} when every feature is stored as one plain list that
  decodes to itself (text, numbers, class ids, and sequences of those), else None."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  def plain(feature) -> bool:
    if isinstance(feature, tfds.features.Text):
      return feature.encoder is None
    if isinstance(feature, tfds.features.ClassLabel):
      return True
    # Exactly Tensor (Scalar included), stored unencoded: Audio/Image subclass it.
    return (type(feature) is tfds.features.Tensor and feature.shape == ()
            and feature._encoding == tfds.features.Encoding.NONE)  # pylint: disable=protected-access

  specs = {}
  for key, feature in features.items():
    inner = feature.feature if isinstance(feature, tfds.features.Sequence) else feature
    if not plain(inner) or (inner is not feature and feature.shape != (None,)):
      return None
    specs[key] = (np.dtype(inner.np_dtype), inner is not feature)
  return specs


def decode_plain(raw: bytes, specs: dict[str, tuple[np.dtype, bool]]) -> dict:
  """One serialized tf.train.Example of plain features as TFDS's own numpy decoding gives it:
  bytes or a Python number per scalar, a numpy array per sequence (object dtype for text)."""
  from tensorflow_datasets.proto import tf_example_pb2  # pylint: disable=import-outside-toplevel

  stored = tf_example_pb2.Example.FromString(raw).features.feature
  example = {}
  for key, (dtype, is_sequence) in specs.items():
    feature = stored[key]
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else ()
    if is_sequence:
      example[key] = np.array(values, dtype=dtype)
    else:
      example[key] = values[0] if dtype == object else dtype.type(values[0]).item()
  return example


def _decode_nested(ex: dict) -> dict:
  return {key: _as_numpy(value) for key, value in ex.items()}


def read_split(builder, tfds_split: str) -> list[dict]:
  """Every example of a prepared split (numpy arrays, bytes for text), in stored order.

  Examples of plain features (every text builder but sst_trees) are parsed straight from their
  records by decode_plain: TFDS's generic numpy decoding costs ~0.25 ms a sentence in Python,
  seconds of every run's start on UD EWT. tests/test_prepared.py checks both give the same.
  """
  return list(iter_split(builder, tfds_split))


def iter_split(builder, tfds_split: str, chunk: int = READ_CHUNK) -> Iterator[dict]:
  """read_split one example at a time, holding at most `chunk` decoded examples: a caller that
  reduces each example (speech features from a clip) never holds a whole split's audio."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  if str(builder.info.file_format.value) == FILE_FORMAT:
    specs = _plain_features(builder.info.features)
    if specs is None:
      source = builder.as_data_source(split=tfds_split)
      decode = _decode_nested
    else:
      source = builder.as_data_source(
          split=tfds_split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
      decode = functools.partial(decode_plain, specs=specs)
    for start in range(0, len(source), chunk):
      yield from map(decode, source.__getitems__(range(start, min(start + chunk, len(source)))))
    return
  # A copy prepared before array_record was the format (or by `tfds build` without
  # --file_format): tf.data reads it where TensorFlow is installed.
  if not tensorflow_installed():
    raise NotPrepared(
        f"{builder.name} in {builder.data_dir} is stored as {builder.info.file_format.value}, "
        f"which needs TensorFlow to read; prepare it again as {FILE_FORMAT} where TensorFlow is "
        f"installed ({PREPARE_EXTRA}) with `bilstm-prepare` and this run's --config flags (a "
        f"catalog dataset: `tfds build {builder.name} --file_format={FILE_FORMAT}`)")
  yield from tfds.as_numpy(builder.as_dataset(split=tfds_split, shuffle_files=False))
