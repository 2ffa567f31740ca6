"""Connected digits end to end: the loader's two tasks and a smoke run of each head."""

import json
import os

import numpy as np
import pytest

from bilstm_jax import data
from bilstm_jax.config import load_config
from bilstm_jax.data import connected_digits
from bilstm_jax.training import train
from tests.paths import CONFIGS
from tests.test_connected_digits import write_folder

CONFIG = os.path.join(CONFIGS, "connected_digits.py")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return write_folder(tmp_path_factory.mktemp("fsdd"))


def _config(folder, cache, variant=""):
  config = load_config(CONFIG + ":smoke" + (f",{variant}" if variant else ""))
  config.unlock()
  config.data.source_dir = str(folder)
  config.data.cache_dir = str(cache)
  # Gaps longer than a frame, so the first and last frames are silence.
  config.data.min_gap_ms, config.data.max_gap_ms = 40.0, 80.0
  config.wandb.mode = "disabled"
  return config


def test_framewise_labels_follow_the_segments(folder, tmp_path):
  config = _config(folder, tmp_path, "framewise")
  splits, info = data.get_datasets(config.data)
  assert info["task"] == "tagging" and info["label_names"][-1] == "sil"
  for split in splits.values():
    for x_TxF, y_T in zip(split.inputs, split.labels):
      assert len(x_TxF) == len(y_T)
      assert y_T[0] == y_T[-1] == connected_digits.SILENCE  # every utterance starts and ends
      assert set(np.unique(y_T)) - {connected_digits.SILENCE}  # ...with a gap, digits between


def test_transcription_labels_are_digit_strings_shifted_past_the_blank(folder, tmp_path):
  config = _config(folder, tmp_path)
  splits, info = data.get_datasets(config.data)
  framewise, _ = data.get_datasets(_config(folder, tmp_path, "framewise").data)
  assert info["task"] == "transcription" and info["label_names"][0] == "<blank>"
  assert splits["train"].label_steps == config.data.max_digits
  for split in ("train", "test"):
    for y_L, frames_T in zip(splits[split].labels, framewise[split].labels):
      runs = [int(k) for i, k in enumerate(frames_T)
              if k != connected_digits.SILENCE and (i == 0 or frames_T[i - 1] != k)]
      # Consecutive equal digits are separate segments with a gap between, so the frame runs
      # spell the string exactly.
      assert [int(k) - 1 for k in y_L] == runs


@pytest.mark.parametrize("variant, metric", [("framewise", "test/frame_error_rate"),
                                             ("ctc", "test/label_error_rate_beam")])
def test_smoke_run_writes_error_rates(folder, tmp_path, variant, metric):
  config = _config(folder, tmp_path / "cache", variant)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert 0.0 <= results[metric] and np.isfinite(results[metric])
  assert results["best_metric"] == config.eval_metric


def test_utterances_too_short_for_their_string_are_skipped_and_counted(caplog):
  split = {"inputs": [np.zeros((3, 2)), np.zeros((2, 2)), np.zeros((5, 2))],
           "frame_labels": [np.zeros(3), np.zeros(2), np.zeros(5)],
           "digits": [np.array([1, 2, 3]), np.array([4, 4]), np.array([7, 7, 7])],
           "names": np.array(["a", "b", "c"])}
  # 'b' needs 3 frames (4, blank, 4) but has 2; 'c' needs 5 and has 5.
  kept = connected_digits._alignable(split, "test")  # pylint: disable=protected-access
  assert list(kept["names"]) == ["a", "c"]
  assert "test: skipped 1 of 3 utterances" in caplog.text
