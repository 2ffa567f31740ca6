"""The framewise target delay, the CTC head's loss and metrics, and label-string batches."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from bilstm_jax import models
from bilstm_jax.config import ConfigError
from bilstm_jax.data import batching
from bilstm_jax.training import ctc_loss, evaluate, parallel
from tests.paths import CONFIGS

CONFIG = os.path.join(CONFIGS, "connected_digits.py")


def _model_cfg(task="tagging", **changes):
  """The smoke model of the task's variant (framewise for tagging, CTC for transcription)."""
  from bilstm_jax.config import load_config  # pylint: disable=import-outside-toplevel
  config = load_config(CONFIG + (":smoke,framewise" if task == "tagging" else ":smoke"))
  config.unlock()
  for key, value in changes.items():
    config.model[key] = value
  return config.model


FRAMES_INFO = {"task": "tagging", "vocab_size": None, "feature_dim": 3, "num_classes": 11,
               "label_names": [str(d) for d in range(10)] + ["sil"], "scheme": None,
               "frames": True}


def test_target_delay_reads_the_output_d_steps_later():
  """Output t of a delay-d model is output t + d of the same network run on the sequence
  followed by d zero frames; junk past a sequence's length changes nothing."""
  delay, num_steps = 3, 7
  rng = np.random.default_rng(0)
  lengths = np.array([7, 4, 1], np.int32)
  x = rng.normal(size=(3, num_steps, 3)).astype(np.float32)
  delayed = models.build_model(_model_cfg(bidirectional=False, target_delay=delay), FRAMES_INFO)
  plain = models.build_model(_model_cfg(bidirectional=False, target_delay=0), FRAMES_INFO)
  params = delayed.init(jax.random.PRNGKey(0), x, lengths)["params"]
  got = np.asarray(delayed.apply({"params": params}, x, lengths))
  assert got.shape == (3, num_steps, 11)
  for row, n in enumerate(lengths):
    padded = np.zeros((1, n + delay, 3), np.float32)
    padded[0, :n] = x[row, :n]
    want = np.asarray(plain.apply({"params": params}, padded, np.array([n + delay])))[0]
    np.testing.assert_allclose(got[row, :n], want[delay:delay + n], rtol=1e-5, atol=1e-6)
  junk = x.copy()
  junk[1, 4:] = 100.0
  junk[2, 1:] = -50.0
  again = np.asarray(delayed.apply({"params": params}, junk, lengths))
  for row, n in enumerate(lengths):
    np.testing.assert_allclose(again[row, :n], got[row, :n], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("changes, task, match", [
    ({"bidirectional": True, "target_delay": 2}, "tagging", "unidirectional"),
    ({"bidirectional": False, "target_delay": -1}, "tagging", "target_delay must be"),
    ({"bidirectional": False, "target_delay": 2}, "transcription", "target_delay=2 is for"),
    ({"head": "ctc"}, "tagging", "head='ctc'"),
    ({"head": "softmax"}, "transcription", "head='ctc'"),
    ({"head": "crf"}, "transcription", "head='crf'"),
    ({"ctc_beam_width": -2}, "transcription", "ctc_beam_width"),
])
def test_head_and_delay_mistakes_are_config_errors(changes, task, match):
  info = {**FRAMES_INFO, "task": task}
  with pytest.raises(ConfigError, match=match):
    models.build_model(_model_cfg(task, **changes), info)


def test_label_strings_batch_to_a_fixed_width():
  inputs = [np.zeros((n, 2), np.float32) for n in (5, 9, 3)]
  labels = [np.array([3, 3, 1], np.int32), np.array([], np.int32), np.array([7], np.int32)]
  dataset = batching.ArrayDataset(inputs, labels, label_steps=4)
  assert not dataset.is_tagging
  batch = batching.collate(dataset, np.array([0, 1, 2]), 4, 9)
  np.testing.assert_array_equal(batch["labels"], [[3, 3, 1, 0], [0, 0, 0, 0], [7, 0, 0, 0],
                                                  [0, 0, 0, 0]])
  np.testing.assert_array_equal(batch["label_lengths"], [3, 0, 1, 0])
  np.testing.assert_array_equal(batch["lengths"], [5, 9, 3, 0])
  with pytest.raises(ValueError, match="longer than label_steps"):
    batching.ArrayDataset(inputs, labels, label_steps=2)


def _peaked_logits(paths, num_classes=4, num_steps=6):
  """Logits whose argmax follows each frame path (a path shorter than num_steps is padded)."""
  logits = np.full((len(paths), num_steps, num_classes), -5.0, np.float32)
  for row, path in enumerate(paths):
    for t, k in enumerate(path):
      logits[row, t, k] = 5.0
  return logits


def test_ctc_loss_skips_unalignable_rows_and_scores_greedy_strings():
  # Frame paths (blank = 0): row 0 decodes to [1, 2]; row 1 to [3] (label [3, 3]: wrong);
  # row 2 has 2 frames for the label [1, 1], which needs 3: unalignable, skipped.
  logits = _peaked_logits([[1, 1, 0, 2, 2, 0], [3, 3, 3, 0, 0, 0], [1, 1]])
  batch = {"lengths": np.array([6, 6, 2], np.int32),
           "labels": np.array([[1, 2, 0], [3, 3, 0], [1, 1, 0]], np.int32),
           "label_lengths": np.array([2, 2, 2], np.int32),
           "mask": np.array([1, 1, 1], np.float32)}
  loss, sums = jax.jit(ctc_loss.loss_and_sums)(jnp.asarray(logits), batch)
  assert np.isfinite(float(loss))
  assert float(sums["skipped"]) == 1.0 and float(sums["sentences"]) == 2.0
  assert float(sums["correct_sum"]) == 1.0 and float(sums["count"]) == 3.0
  grads = jax.grad(lambda z: ctc_loss.loss_and_sums(z, batch)[0])(jnp.asarray(logits))
  assert np.all(np.isfinite(np.asarray(grads)))
  np.testing.assert_array_equal(np.asarray(grads)[2], 0.0)  # the skipped row has no gradient


def test_error_rates_are_summed_over_the_split():
  # Edits 1 (of 4 labels) and 2 (of 1 label): 3 / 5, not the mean of 1/4 and 2/1.
  rates = ctc_loss.error_rates([[1, 2, 3, 4], [5]], [[1, 2, 3], [6, 7]], "test")
  assert rates == {"test/label_error_rate": pytest.approx(3 / 5),
                   "test/sequence_error_rate": 1.0}


def test_transcription_evaluation_reports_greedy_and_beam_rates():
  frames = [[1, 0, 2, 0, 0, 0], [3, 3, 0, 3, 0, 0], [2, 2, 2, 2]]
  logits = _peaked_logits(frames)
  inputs = [logits[i, :len(path)] for i, path in enumerate(frames)]
  labels = [np.array([1, 2]), np.array([3, 3]), np.array([1])]
  dataset = batching.ArrayDataset(inputs, labels, label_steps=3)

  def apply_fn(variables, x, lengths, train=False):
    del variables, lengths, train
    return x  # the inputs are the logits

  info = {"task": "transcription", "label_names": ["<blank>", "0", "1", "2"], "scheme": None}
  fns = evaluate.make_eval_fns(apply_fn, ctc=True)
  got = evaluate.evaluate(fns, {}, dataset, batch_size=2, boundaries=None, split="test",
                          mesh=parallel.make_mesh(), info=info, beam_width=4)
  # Greedy: [1, 2] right, [3, 3] right, [2] for [1]: 1 edit of 5 labels, 1 of 3 strings wrong.
  assert got["test/label_error_rate"] == pytest.approx(1 / 5)
  assert got["test/sequence_error_rate"] == pytest.approx(1 / 3)
  assert got["test/label_error_rate_beam"] == pytest.approx(1 / 5)  # peaked: beam agrees
  assert got["test/skipped"] == 0.0
  assert sorted(got) == sorted(evaluate.metric_names(info, "test", False, beam=True))


def test_framewise_evaluation_reports_the_frame_error_rate():
  logits = _peaked_logits([[1, 1, 2], [0, 3, 3]], num_steps=3)
  dataset = batching.ArrayDataset([logits[0], logits[1]],
                                  [np.array([1, 1, 1]), np.array([0, 3, 3])])

  def apply_fn(variables, x, lengths, train=False):
    del variables, lengths, train
    return x

  info = {**FRAMES_INFO, "label_names": ["0", "1", "2", "sil"]}
  got = evaluate.evaluate(evaluate.make_eval_fns(apply_fn), {}, dataset, batch_size=2,
                          boundaries=None, split="val", mesh=parallel.make_mesh(), info=info)
  assert got["val/frame_error_rate"] == pytest.approx(1 / 6)
  assert sorted(got) == sorted(evaluate.metric_names(info, "val", False))


def test_config_variants_pick_the_task_head_and_metric():
  from bilstm_jax.config import load_config  # pylint: disable=import-outside-toplevel
  ctc_cfg = load_config(CONFIG)
  assert (ctc_cfg.data.task, ctc_cfg.model.head, ctc_cfg.eval_metric) == (
      "transcription", "ctc", "val/label_error_rate")
  frame_cfg = load_config(CONFIG + ":framewise")
  assert (frame_cfg.data.task, frame_cfg.model.head, frame_cfg.eval_metric) == (
      "tagging", "softmax", "val/frame_error_rate")
  assert load_config(CONFIG + ":speaker_heldout").data.split_rule == "speaker"
  with pytest.raises(ValueError, match="exclude each other"):
    load_config(CONFIG + ":framewise,ctc")
  assert isinstance(ctc_cfg, ml_collections.ConfigDict)
