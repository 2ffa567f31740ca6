"""TFDS catalog datasets (config key data.tfds_name) as raw text examples.

Known mappings (data.text_field / data.label_field):
- `trec`: text / label-coarse (6 classes) or label-fine; no validation split.
- `glue/sst2`: sentence / label; its test labels are hidden (-1), so validation becomes the test
  split and validation is carved from train.
- `imdb_reviews`: text / label; no validation split.
- `universal_dependencies/en_ewt` (UD English-EWT r2.10): tokens / upos or xpos; its dev split
  is our val. TFDS keeps multiword-token and empty-node rows (UPOS `_`); they are dropped so the
  words match a local CoNLL-U folder.
- `conll2003`: tokens / ner or chunks; config key data.feature_columns may name its other
  token features (e.g. 'pos') by their TFDS names.
A missing validation split is left out here; the loader carves it from train.
"""

from __future__ import annotations

import socket
import urllib.parse

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import prepared
from bilstm_jax.data.builders import Example, decode, feature_names, prepare_lock

VAL_SPLITS = ("validation", "dev", "val")
LOCAL_FORMATS = "conllu|conll|label_sentence|trec|polarity"
PROBE_TIMEOUT_S = 3.0
NOT_A_WORD = "_"  # UPOS of TFDS UD's multiword-token and empty-node rows


def _download_addresses(builder) -> list[tuple[str, int]]:
  """(host, port) of the URLs in the builder's checksums file; [] where TFDS cannot list them."""
  try:
    urls = list(type(builder).url_infos or {})
  except Exception:  # noqa: BLE001 (TFDS's lookup can fail on its own missing imports)
    return []
  addresses = set()
  for url in urls:
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname:
      addresses.add((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)))
  return sorted(addresses)


def _unreachable(addresses: list[tuple[str, int]]) -> list[str]:
  """The hosts that take no TCP connection within PROBE_TIMEOUT_S."""
  failed = []
  for host, port in addresses:
    try:
      socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError:
      failed.append(host)
  return failed


def open_catalog(name: str, data_dir: str | None,
                 local_formats: str = LOCAL_FORMATS) -> tfds.core.DatasetBuilder:
  """The prepared builder for `name`, downloading it only where its hosts answer.

  TFDS's downloader retries each URL 10 times with back-off (minutes without network), so the
  hosts are probed once first and a machine without network gets one error at once.
  """
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except (tfds.core.registered.DatasetNotFoundError, ValueError) as err:
    first_line = str(err).strip().splitlines()[0]  # TFDS then lists its whole catalog
    raise ConfigError(f"config key data.tfds_name={name!r}: {first_line}") from None
  if builder.is_prepared():
    return builder
  data_dir_flag = f" --data_dir={data_dir}" if data_dir else ""
  how = (f"TFDS dataset {name!r} is not prepared in {builder.data_dir} (config key "
         f"data.tfds_data_dir={data_dir!r}). Prepare it once on a node with network, sharing "
         f"that data_dir: `bilstm-prepare` with this run's --config flags, or `tfds build "
         f"{name}{data_dir_flag} --file_format={prepared.FILE_FORMAT}`; or read a local folder "
         f"instead: --config.data.source_dir=<folder> --config.data.format={local_formats}")
  unreachable = _unreachable(_download_addresses(builder))
  if unreachable:
    raise ConfigError(f"{how}. It cannot be downloaded here: no connection to "
                      + ", ".join(unreachable))
  with prepare_lock.preparing(builder) as must_write:
    if must_write:
      try:
        builder.download_and_prepare(file_format=prepared.FILE_FORMAT)
      except Exception as err:  # any failure gets the same instructions
        raise ConfigError(
            f"{how}. Downloading it here failed: {type(err).__name__}: {err}") from err
  return builder


def _class_names(feature) -> list[str] | None:
  inner = feature.feature if isinstance(feature, tfds.features.Sequence) else feature
  return list(inner.names) if isinstance(inner, tfds.features.ClassLabel) else None


def _to_names(value, names: list[str] | None):
  """Class ids -> names (None for a hidden label, id -1); text labels are decoded."""
  if isinstance(value, np.ndarray) and value.ndim == 1:
    return [_to_names(v, names) for v in value]
  if names is None:
    return decode(value)
  return names[int(value)] if int(value) >= 0 else None


def _read(builder, split: str, text_field: str, label_field: str, names, upos_names,
          feature_fields: dict[str, list[str] | None]):
  examples = []
  for i, ex in enumerate(prepared.iter_split(builder, split)):
    text = ex[text_field]
    inputs = [decode(t) for t in text] if isinstance(text, np.ndarray) else decode(text)
    labels = _to_names(ex[label_field], names)
    features = [_to_names(ex[field], values) for field, values in feature_fields.items()]
    if upos_names is not None and len(ex["upos"]) == len(inputs) == len(labels):
      keep = [upos_names[int(u)] != NOT_A_WORD for u in ex["upos"]]
      inputs, labels, *features = ([t for t, k in zip(column, keep, strict=True) if k]
                                   for column in (inputs, labels, *features))
    examples.append(Example(inputs, labels, f"{builder.name} {split}[{i}]", features or None))
  return examples


def _feature_fields(data_cfg, features) -> dict[str, list[str] | None]:
  """data.feature_columns as TFDS token features (sequences beside the tokens): their names."""
  fields = feature_names(data_cfg.feature_columns)
  allowed = [key for key, feature in features.items()
             if isinstance(feature, tfds.features.Sequence)
             and key not in (data_cfg.text_field, data_cfg.label_field)]
  if any(field not in allowed for field in fields):
    raise ConfigError(f"config key data.feature_columns={data_cfg.feature_columns!r}: TFDS "
                      f"dataset {data_cfg.tfds_name!r} has the token features "
                      f"{', '.join(allowed) or 'none'} (by name, not column index)")
  return {field: _class_names(features[field]) for field in fields}


def read_catalog(data_cfg) -> tuple[dict[str, list[Example]], bool]:
  """({'train', 'test', maybe 'val'} -> examples, whether the task is tagging)."""
  name = data_cfg.tfds_name
  if not name:
    raise ConfigError("config key data.source_dir or data.tfds_name must be set for a text task")
  builder = open_catalog(name, data_cfg.tfds_data_dir)
  features = builder.info.features
  for key in ("text_field", "label_field"):
    if data_cfg[key] not in features:
      raise ConfigError(f"config key data.{key}={data_cfg[key]!r}: TFDS dataset {name!r} has "
                        "features " + ", ".join(features.keys()))
  label_feature = features[data_cfg.label_field]
  tagging = isinstance(label_feature, tfds.features.Sequence)
  feature_fields = _feature_fields(data_cfg, features) if tagging else {}
  if not tagging and data_cfg.feature_columns:
    raise ConfigError(f"config key data.feature_columns={data_cfg.feature_columns!r} is for "
                      f"tagging data; {name!r} is a classification dataset (set it to '')")
  names = _class_names(label_feature)
  upos_names = _class_names(features["upos"]) if tagging and "upos" in features else None
  available = list(builder.info.splits)
  wanted = {"train": "train", "test": "test"}
  val = [s for s in VAL_SPLITS if s in available]
  if val:
    wanted["val"] = val[0]
  for tfds_split in wanted.values():
    if tfds_split not in available:
      raise ConfigError(f"TFDS dataset {name!r} has no {tfds_split!r} split; it has "
                        + ", ".join(available))
  splits = {split: _read(builder, tfds_split, data_cfg.text_field, data_cfg.label_field, names,
                         upos_names, feature_fields)
            for split, tfds_split in wanted.items()}
  hidden = [ex.label is None for ex in splits["test"]]
  if not tagging and all(hidden):
    # GLUE hides its test labels (-1): score on validation and carve validation from train.
    if "val" not in splits:
      raise ConfigError(f"TFDS dataset {name!r}: the test labels are hidden and there is no "
                        "validation split to test on")
    splits["test"] = splits.pop("val")
  elif any(hidden):
    raise ConfigError(f"TFDS dataset {name!r}: some test labels are hidden (-1)")
  return splits, tagging
