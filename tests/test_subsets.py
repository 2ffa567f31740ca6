"""data.train_fraction: a fixed, nested share of the training split, cut before anything is
learned from it."""

import json
import os

import numpy as np
import pytest

from bilstm_jax import data
from bilstm_jax.config import ConfigError, load_config
from bilstm_jax.data import subsets
from tests.paths import CONFIGS


def test_fractions_are_nested_and_independent_of_the_run_seed():
  quarter, half = subsets.train_indices(1000, 0.25), subsets.train_indices(1000, 0.5)
  assert len(quarter) == 250 and len(half) == 500
  assert set(quarter) <= set(half)
  assert np.all(np.diff(half) > 0)  # the original order is kept
  np.testing.assert_array_equal(subsets.train_indices(1000, 1.0), np.arange(1000))
  for bad in (0, 1.5, -0.1, True, "half"):
    with pytest.raises(ConfigError, match="data.train_fraction"):
      subsets.train_indices(10, bad)


def test_val_and_test_stay_whole():
  config = load_config(os.path.join(CONFIGS, "synthetic.py"))
  config.unlock()
  config.data.train_fraction = 0.125
  splits, _ = data.get_datasets(config.data)
  assert len(splits["train"]) == config.data.train_size // 8
  assert len(splits["val"]) == config.data.val_size
  assert len(splits["test"]) == config.data.test_size


def test_the_vocabulary_comes_from_the_kept_sentences(tmp_path):
  folder = tmp_path / "corpus"
  folder.mkdir()
  # 40 training sentences, each with its own word ("w0".."w39"), and "shared" everywhere.
  (folder / "train.txt").write_text("".join(f"w{i} NN O\nshared NN B-PER\n\n" for i in range(40)))
  for name in ("dev.txt", "test.txt"):
    (folder / name).write_text("shared NN B-PER\nw0 NN O\n\n")
  config = load_config(os.path.join(CONFIGS, "conll_ner.py:smoke"))
  config.unlock()
  config.data.source_dir = str(folder)
  config.data.cache_dir = str(tmp_path / "cache")
  config.data.train_fraction = 0.25
  config.data.val_fraction = 0.1
  workdir = str(tmp_path / "run")
  splits, info = data.get_datasets(config.data, workdir)
  assert len(splits["train"]) == 10
  with open(os.path.join(workdir, "vocab.json")) as f:
    saved = json.load(f)
  words = saved["names"]
  kept = {w for w in words if w.startswith("w")}
  assert len(kept) == 10  # only the kept sentences' own words
  assert int(info["token_counts"].sum()) == sum(len(x) for x in splits["train"].inputs)
