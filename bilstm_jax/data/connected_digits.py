"""Connected spoken digits: speech frames labelled frame by frame, or with their digit string.

The utterances come from the TFDS builder in builders/connected_digits.py (recordings of one
speaker joined by short gaps, prepared once into `<cache_dir>/tfds`); their features (log-mel
or MFCC as for every speech task) are computed once per feature setting and cached with the
per-frame labels and the digit strings in `<cache_dir>/features/...`. Two tasks:

- data.task='tagging' (framewise, Graves & Schmidhuber 2005): one of 11 classes per frame, the
  digits 0-9 and 'sil' (label names '0'..'9', 'sil'). A frame takes the digit whose recording
  covers the frame's centre sample (builders/connected_digits.frame_labels), else 'sil'.
- data.task='transcription' (CTC, Graves et al. 2013): the digit string, as class ids 1-10 for
  digits 0-9 (class 0 is CTC's blank; label names '<blank>', '0'..'9'). A string needs at least
  its length plus its repeated neighbours in frames; an utterance with fewer frames cannot be
  aligned and is skipped with a count in the log (it cannot happen with the default gaps and
  frame step, but a long frame step could cause it).
"""

from __future__ import annotations

import os

import numpy as np
from absl import logging

from bilstm_jax.config import ConfigError
from bilstm_jax.core import ctc
from bilstm_jax.data import features, speech, subsets
from bilstm_jax.data.batching import ArrayDataset
from bilstm_jax.data.builders import connected_digits as builder_lib
from bilstm_jax.data.builders import read_split

TASKS = ("tagging", "transcription")
SILENCE = 10  # the framewise class of frames outside every digit
FRAME_LABELS = [str(d) for d in range(10)] + ["sil"]
CTC_LABELS = ["<blank>"] + [str(d) for d in range(10)]
SPLITS = {"train": "train", "val": "validation", "test": "test"}


def digits_spec(data_cfg) -> builder_lib.DigitsSpec:
  """The builder's settings from the `data` config section (checked by DigitsSpec)."""
  if not data_cfg.source_dir:
    raise ConfigError("data.format='connected_digits' needs config key data.source_dir: a "
                      "folder of FSDD recordings named {digit}_{speaker}_{index}.wav")
  return builder_lib.DigitsSpec(
      source_dir=os.path.abspath(os.path.expanduser(data_cfg.source_dir)),
      train_size=data_cfg.train_size, val_size=data_cfg.val_size,
      test_size=data_cfg.test_size, seed=data_cfg.seed,
      min_digits=data_cfg.min_digits, max_digits=data_cfg.max_digits,
      min_gap_ms=data_cfg.min_gap_ms, max_gap_ms=data_cfg.max_gap_ms,
      split_rule=data_cfg.split_rule, heldout_speaker=data_cfg.heldout_speaker,
      trim_db=data_cfg.trim_db)


def _featurize(builder, tfds_split: str, spec: features.FeatureSpec, resample: bool) -> dict:
  """Features, per-frame labels and digit strings of one split, as flat arrays."""
  frames, frame_labels, digits, lengths, num_digits, names = [], [], [], [], [], []
  for i, ex in enumerate(read_split(builder, tfds_split)):  # in the builder's order
    name = f"connected_digits {tfds_split}[{i}]"
    rate = int(ex["sample_rate"])
    wave_S = features.match_rate(features.to_float_wave(ex["audio"]), rate, spec, resample, name)
    x_TxF = features.compute_features(wave_S, spec, name)
    # Segments are in the stored audio's samples; frames are at spec.sample_rate.
    segments_Nx2 = np.round(ex["segments"].astype(np.float64) * spec.sample_rate / rate)
    frames.append(x_TxF)
    frame_labels.append(builder_lib.frame_labels(
        segments_Nx2.astype(np.int64), ex["digits"], len(x_TxF), spec.frame_length,
        spec.frame_step, silence=SILENCE))
    digits.append(ex["digits"].astype(np.int32))
    lengths.append(len(x_TxF))
    num_digits.append(len(ex["digits"]))
    names.append(ex["sources"].decode())
  feature_dim = spec.feature_dim
  return {
      "frames_NxF": np.concatenate(frames) if frames else np.zeros((0, feature_dim), np.float32),
      "frame_labels_N": np.concatenate(frame_labels).astype(np.int32) if frames
                        else np.zeros(0, np.int32),
      "digits_N": np.concatenate(digits) if digits else np.zeros(0, np.int32),
      "lengths": np.array(lengths, np.int32), "num_digits": np.array(num_digits, np.int32),
      "names": np.array(names, dtype=str)}


def _cached(builder, tfds_split, spec, resample, feature_dir) -> dict:
  return speech.cached_npz(os.path.join(feature_dir, f"{tfds_split}.npz"),
                           lambda: _featurize(builder, tfds_split, spec, resample),
                           f"connected_digits {tfds_split}")


def _unpack(arrays: dict) -> dict:
  cuts = np.cumsum(arrays["lengths"])[:-1]
  digit_cuts = np.cumsum(arrays["num_digits"])[:-1]
  count = len(arrays["lengths"])
  return {"inputs": np.split(arrays["frames_NxF"], cuts)[:count],
          "frame_labels": np.split(arrays["frame_labels_N"], cuts)[:count],
          "digits": np.split(arrays["digits_N"], digit_cuts)[:count],
          "names": arrays["names"]}


def _alignable(split: dict, name: str) -> dict:
  """The split without utterances too short for CTC to align their digit string."""
  keep = [i for i, (x, d) in enumerate(zip(split["inputs"], split["digits"]))
          if len(x) >= ctc.min_frames(d)]
  skipped = len(split["inputs"]) - len(keep)
  if skipped:
    logging.warning("connected_digits %s: skipped %d of %d utterances with fewer frames than "
                    "their digit string needs (lower data.frame_step_ms)", name, skipped,
                    len(split["inputs"]))
  return {key: [value[i] for i in keep] for key, value in split.items()}


def load_connected_digits(data_cfg, workdir: str | None) -> tuple[dict[str, ArrayDataset], dict]:
  """splits 'train', 'val', 'test' -> ArrayDataset of [T_i, F] frames with per-frame labels
  (data.task='tagging') or digit strings (data.task='transcription'), and info."""
  if data_cfg.task not in TASKS:
    raise ConfigError(f"config key data.task={data_cfg.task!r}: connected digits are labelled "
                      f"per frame ('tagging') or by their digit string ('transcription')")
  spec = features.spec_from_config(data_cfg)
  if data_cfg.normalize not in features.NORMALIZERS:
    raise ConfigError(f"config key data.normalize: unknown {data_cfg.normalize!r}; allowed: "
                      + ", ".join(features.NORMALIZERS))
  cache_dir = os.path.expanduser(data_cfg.cache_dir or "~/.cache/bilstm_jax")
  builder = builder_lib.prepare_connected_digits(digits_spec(data_cfg),
                                                 os.path.join(cache_dir, "tfds"))
  dataset_id = f"connected_digits-{builder.builder_config.name}-{builder.version}"
  features_id = f"{dataset_id}/{speech.digest(spec.key())}"
  feature_dir = os.path.join(cache_dir, "features", features_id)
  splits = {s: _unpack(_cached(builder, t, spec, data_cfg.resample, feature_dir))
            for s, t in SPLITS.items()}
  kept = subsets.train_indices(len(splits["train"]["inputs"]), data_cfg.train_fraction)
  splits["train"] = subsets.take_fields(splits["train"], kept)
  speech.normalize_splits(splits, data_cfg.normalize, workdir, features_id)
  info = {"vocab_size": None, "feature_dim": spec.feature_dim, "scheme": None,
          "num_classes": 11}
  if data_cfg.task == "tagging":
    datasets = {s: ArrayDataset(split["inputs"], split["frame_labels"])
                for s, split in splits.items()}
    info.update(task="tagging", label_names=FRAME_LABELS, frames=True)
  else:
    splits = {s: _alignable(split, s) for s, split in splits.items()}
    # Class 0 is the blank, so digit d is class d + 1; every batch holds max_digits labels.
    datasets = {s: ArrayDataset(split["inputs"], [d + 1 for d in split["digits"]],
                                label_steps=int(data_cfg.max_digits))
                for s, split in splits.items()}
    info.update(task="transcription", label_names=CTC_LABELS)
  return datasets, info
