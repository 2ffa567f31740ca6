"""Speech classification: a TFDS audio dataset -> cached features -> normalised ArrayDatasets.

Sources: a local folder (`data.source_dir`, `data.format=audio_folder`, see
builders/audio_folder.py) prepared once into `<cache_dir>/tfds`, or a TFDS catalog dataset
(`data.tfds_name`) that must already be prepared in `data.tfds_data_dir`: nothing is ever
downloaded from inside a run, so a node without network fails at once with instructions
instead of hanging, and an array of jobs never races to download the same files.

spoken_digit ships one TFDS split; the official FSDD rule splits it by the recording index in
`audio/filename` ('7_jackson_32.wav': index 0-4 -> test, else train). A dataset without a
validation split gets `data.val_fraction` of train, drawn with the fixed seed VAL_SEED over
examples sorted by file name: the same split for every run, whatever its `config.seed`.

Features (log-mel or MFCC, plus deltas) are computed once per (prepared dataset, feature
settings) and stored in `<cache_dir>/features/<dataset>/<settings>/<split>.npz`.
Normalisation is applied after loading: `global` uses mean/std of the final training split
only (saved to `<workdir>/feature_stats.npz`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
from absl import logging

from bilstm_jax import files
from bilstm_jax.config import ConfigError
from bilstm_jax.data import catalog, features, prepared, subsets
from bilstm_jax.data.batching import ArrayDataset
from bilstm_jax.data.builders import audio_folder

VAL_SEED = 0
STATS_FILE = "feature_stats.npz"
# The TFDS splits each catalog dataset ships (spoken_digit: one, split by the FSDD rule).
CATALOG = {"spoken_digit": ("train",), "speech_commands": ("train", "validation", "test")}
FOLDER_FORMATS = (None, "audio_folder")


def digest(obj) -> str:
  """A short stable hash of a JSON-able object (cache folder names)."""
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _open_folder(data_cfg, cache_dir: str):
  if data_cfg.format not in FOLDER_FORMATS:
    raise ConfigError(f"config key data.format={data_cfg.format!r}: speech folders are read "
                      "with data.format=audio_folder")
  builder = audio_folder.prepare_audio_folder(
      data_cfg.source_dir, os.path.join(cache_dir, "tfds"), data_cfg.label_field,
      data_cfg.label_regex)
  return builder, f"audio_folder-{builder.builder_config.name}-{builder.version}"


def _open_catalog(data_cfg):
  name = data_cfg.tfds_name
  if name not in CATALOG:
    raise ConfigError(f"config key data.tfds_name={name!r}: allowed speech datasets: "
                      + ", ".join(CATALOG) + " (or set data.source_dir to a wav folder)")
  # The same rule as text datasets: download once where the hosts answer, else one error.
  builder = catalog.open_catalog(name, data_cfg.tfds_data_dir, local_formats="audio_folder")
  splits = {s: (i.num_examples, i.num_bytes) for s, i in builder.info.splits.items()}
  where = digest({"data_dir": builder.data_dir, "splits": splits})
  return builder, f"{name}-{builder.version}-{where}"


def _examples(builder, tfds_split: str):
  """Yields (int or float samples, sample rate, label, file name or position)."""
  audio_feature = builder.info.features["audio"]
  for i, ex in enumerate(prepared.iter_split(builder, tfds_split)):
    rate = int(ex["sample_rate"]) if "sample_rate" in ex else audio_feature.sample_rate
    name = ex.get("filename", ex.get("audio/filename"))
    name = name.decode() if name is not None else f"{builder.name} {tfds_split}[{i}]"
    yield ex["audio"], rate, int(ex["label"]), name


def _featurize_split(builder, tfds_split, spec, resample: bool) -> dict[str, np.ndarray]:
  xs, labels, names = [], [], []
  for audio_S, rate, label, name in _examples(builder, tfds_split):
    wave_S = features.match_rate(features.to_float_wave(audio_S), rate, spec, resample, name)
    xs.append(features.compute_features(wave_S, spec, name))
    labels.append(label)
    names.append(name)
  return {"frames_NxF": np.concatenate(xs) if xs else np.zeros((0, spec.feature_dim),
                                                                np.float32),
          "lengths": np.array([len(x) for x in xs], np.int32),
          "labels": np.array(labels, np.int32), "names": np.array(names, dtype=str)}


def cached_npz(path: str, compute, what: str) -> dict[str, np.ndarray]:
  """The arrays in the .npz file at `path`, or compute() written there first (atomically: a
  concurrent run reads a whole file or makes its own)."""
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as cached:
      return {key: cached[key] for key in cached.files}
  prepared.need_tensorflow(f"the features of {what} ({path})")  # tf.signal computes them
  start = time.time()
  arrays = compute()
  with files.atomic_open(path, "wb") as f:
    np.savez(f, **arrays)
  logging.info("featurised %s in %.1fs -> %s", what, time.time() - start, path)
  return arrays


def _cached_split(builder, tfds_split, spec, resample, feature_dir) -> dict[str, np.ndarray]:
  """Features of one TFDS split, computed once and then read from an .npz file."""
  return cached_npz(os.path.join(feature_dir, f"{tfds_split}.npz"),
                    lambda: _featurize_split(builder, tfds_split, spec, resample),
                    f"{builder.name} {tfds_split}")


def _unpack(arrays: dict[str, np.ndarray]) -> dict:
  """Cached arrays -> {'inputs': [T_i, F] views, 'labels': [N], 'names': [N]}."""
  inputs = np.split(arrays["frames_NxF"], np.cumsum(arrays["lengths"])[:-1])
  return {"inputs": inputs[:len(arrays["lengths"])], "labels": arrays["labels"],
          "names": arrays["names"]}


def _split_examples(data_cfg, cached: dict[str, dict]) -> dict[str, dict]:
  """Our train/val/test from the cached TFDS splits: FSDD index rule, then a carved val."""
  if data_cfg.source_dir is None and data_cfg.tfds_name == "spoken_digit":
    train = _unpack(cached["train"])
    rule = [audio_folder.fsdd_split(name) for name in train["names"]]
    if None in rule:
      raise ConfigError(f"spoken_digit file {train['names'][rule.index(None)]!r} has no "
                        "trailing _<index> for the FSDD test rule")
    rule = np.array(rule)
    splits = {s: subsets.take_fields(train, np.flatnonzero(rule == s))
              for s in ("train", "test")}
  else:
    splits = {s: _unpack(cached[t])
              for s, t in (("train", "train"), ("test", "test"), ("val", "validation"))
              if t in cached}
  if "val" not in splits:
    splits["train"], splits["val"] = _carve_val(splits["train"], data_cfg.val_fraction)
  return splits


def _carve_val(train: dict, val_fraction: float) -> tuple[dict, dict]:
  if not 0 < val_fraction < 1:
    raise ConfigError(f"config key data.val_fraction must be in (0, 1) for a dataset without "
                      f"a validation split, got {val_fraction}")
  n = len(train["labels"])
  num_val = max(1, round(val_fraction * n))
  # Sorting by name first makes the draw independent of the order TFDS stored examples in.
  by_name = np.argsort(train["names"], kind="stable")
  is_val = np.zeros(n, bool)
  is_val[by_name[np.random.default_rng(VAL_SEED).permutation(n)[:num_val]]] = True
  return (subsets.take_fields(train, np.flatnonzero(~is_val)),
          subsets.take_fields(train, np.flatnonzero(is_val)))


def normalize_splits(splits: dict, mode: str, workdir: str | None, features_id: str) -> None:
  """Normalises every split's 'inputs' in place ('global': with train statistics, saved to
  workdir/feature_stats.npz)."""
  if mode == "utterance":
    for split in splits.values():
      split["inputs"] = [features.normalize_utterance(x) for x in split["inputs"]]
  elif mode == "global":
    mean_F, std_F = features.global_stats(splits["train"]["inputs"])
    if workdir is not None:
      os.makedirs(workdir, exist_ok=True)
      np.savez(os.path.join(workdir, STATS_FILE), mean=mean_F, std=std_F,
               num_train=len(splits["train"]["inputs"]), features=features_id)
    for split in splits.values():
      split["inputs"] = [features.normalize_global(x, mean_F, std_F) for x in split["inputs"]]


def load_speech_task(data_cfg, workdir: str | None) -> tuple[dict[str, ArrayDataset], dict]:
  """splits 'train', 'val', 'test' -> ArrayDataset of [T_i, F] float32 frames, and info."""
  spec = features.spec_from_config(data_cfg)
  if data_cfg.normalize not in features.NORMALIZERS:
    raise ConfigError(f"config key data.normalize: unknown {data_cfg.normalize!r}; allowed: "
                      + ", ".join(features.NORMALIZERS))
  cache_dir = os.path.expanduser(data_cfg.cache_dir or "~/.cache/bilstm_jax")
  if data_cfg.source_dir is not None:
    builder, dataset_id = _open_folder(data_cfg, cache_dir)
  elif data_cfg.tfds_name is not None:
    builder, dataset_id = _open_catalog(data_cfg)
  else:
    raise ConfigError("speech data needs config key data.source_dir (a wav folder) or "
                      "data.tfds_name (" + " | ".join(CATALOG) + ")")
  # data.resample is not in the key: it only decides whether a mismatched rate is an error.
  features_id = f"{dataset_id}/{digest(spec.key())}"
  feature_dir = os.path.join(cache_dir, "features", features_id)
  if data_cfg.source_dir is None:
    tfds_splits = CATALOG[data_cfg.tfds_name]
  else:
    tfds_splits = sorted(builder.info.splits.keys())
  cached = {t: _cached_split(builder, t, spec, data_cfg.resample, feature_dir)
            for t in tfds_splits}
  splits = _split_examples(data_cfg, cached)
  splits["train"] = subsets.take_fields(splits["train"], subsets.train_indices(
      len(splits["train"]["labels"]), data_cfg.train_fraction))
  normalize_splits(splits, data_cfg.normalize, workdir, features_id)
  label_names = [str(n) for n in builder.info.features["label"].names]
  datasets = {s: ArrayDataset(splits[s]["inputs"], splits[s]["labels"])
              for s in ("train", "val", "test")}
  info = {"task": "classification", "vocab_size": None, "feature_dim": spec.feature_dim,
          "num_classes": len(label_names), "label_names": label_names, "scheme": None}
  return datasets, info
