"""Per-example predictions: what the final evaluation saves agrees with the metrics it reports."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax import data
from bilstm_jax.config import apply_overrides, load_config
from bilstm_jax.training import evaluate, parallel, predictions, train
from tests.paths import CONFIGS


def test_collector_sorts_by_index_and_load_splits_sequences(tmp_path):
  keep = predictions.Collector(["O", "B-X"])
  keep.add_tags([2, 0], [np.array([1, 0]), np.array([0])], [np.array([1, 1]), np.array([1])])
  keep.add_tags([1], [np.array([0, 0, 1])], [np.array([0, 0, 1])])
  rel = predictions.write(str(tmp_path), "test", keep)
  assert rel == os.path.join("predictions", "test.npz")
  got = predictions.load(str(tmp_path / rel))
  assert got["index"].tolist() == [0, 1, 2]
  assert [g.tolist() for g in got["gold"]] == [[0], [0, 0, 1], [1, 0]]
  assert [p.tolist() for p in got["pred"]] == [[1], [0, 0, 1], [1, 1]]
  assert got["label_names"].tolist() == ["O", "B-X"]
  with pytest.raises(ValueError, match="tagging predictions was given classification"):
    keep.add_classes([3], [0], np.ones((1, 2)))


def test_transcriptions_keep_greedy_and_beam_strings():
  keep = predictions.Collector(["<blank>", "0", "1"])
  keep.add_strings([1, 0], [[1, 2], []], [[1], [2, 2]], [[1, 2], []])
  arrays = keep.arrays()
  assert arrays["gold_lengths"].tolist() == [0, 2] and arrays["gold"].tolist() == [1, 2]
  assert arrays["pred_lengths"].tolist() == [2, 1] and arrays["pred"].tolist() == [2, 2, 1]
  assert arrays["beam_lengths"].tolist() == [0, 2]


def test_classification_predictions_hold_the_softmax():
  logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0]], np.float32)
  dataset = data.batching.ArrayDataset([np.ones((n, 3), np.float32) * i
                                        for i, n in enumerate((2, 4, 3))],
                                       np.array([0, 1, 1], np.int32))

  def apply_fn(variables, x, lengths, train=False):
    del variables, lengths, train
    return jnp.asarray(logits)[x[:, 0, 0].astype(jnp.int32)]  # row i's inputs are all i

  keep = predictions.Collector(["a", "b", "c"])
  got = evaluate.evaluate(evaluate.make_eval_fns(apply_fn), {}, dataset, batch_size=2,
                          boundaries=None, split="test", mesh=parallel.make_mesh(),
                          info={"task": "classification", "label_names": ["a", "b", "c"]},
                          keep=keep)
  arrays = keep.arrays()
  assert arrays["index"].tolist() == [0, 1, 2]
  assert arrays["pred"].tolist() == [0, 2, 1] and arrays["gold"].tolist() == [0, 1, 1]
  want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  np.testing.assert_allclose(arrays["probs"], want, rtol=1e-5)
  assert got["test/accuracy"] == pytest.approx(np.mean(arrays["pred"] == arrays["gold"]))


def test_a_run_saves_predictions_that_reproduce_its_test_accuracy(tmp_path):
  config = load_config(os.path.join(CONFIGS, "synthetic.py:smoke"))
  apply_overrides(config, {"wandb.mode": "disabled"})
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert set(results["predictions"]) == {"val", "test"}
  saved = predictions.load(os.path.join(workdir, results["predictions"]["test"]))
  splits, info = data.get_datasets(config.data)
  assert [len(g) for g in saved["gold"]] == splits["test"].lengths.tolist()
  for gold, want in zip(saved["gold"], splits["test"].labels):
    np.testing.assert_array_equal(gold, want)  # example i of the file is example i of the split
  correct = sum(int(np.sum(g == p)) for g, p in zip(saved["gold"], saved["pred"]))
  assert results["test/accuracy"] == pytest.approx(correct / sum(map(len, saved["gold"])))
  assert len(saved["index"]) == len(splits["test"]) and info["task"] == "tagging"
