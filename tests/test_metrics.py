"""Span F1 with conlleval semantics, against hand-computed cases and seqeval; coarse accuracy of
fine labels."""

from collections import Counter

import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax.training import metrics, spans


def test_spans_from_bio_and_stray_inside_tags():
  tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "B-ORG", "I-PER"]
  assert spans.bio_spans(tags) == {("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5),
                                     ("ORG", 6, 6), ("PER", 7, 7)}


@pytest.mark.parametrize("gold, pred, correct, n_gold, n_pred", [
    # exact match
    (["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"], 1, 1, 1),
    # partial overlap: the right end differs, so the span is wrong
    (["B-PER", "I-PER", "O"], ["B-PER", "O", "O"], 0, 1, 1),
    # right extent, wrong type
    (["B-PER", "I-PER"], ["B-ORG", "I-ORG"], 0, 1, 1),
    # adjacent spans of one type must stay two spans
    (["B-LOC", "B-LOC", "O"], ["B-LOC", "I-LOC", "O"], 0, 2, 1),
    (["B-LOC", "B-LOC", "O"], ["B-LOC", "B-LOC", "O"], 2, 2, 2),
    # a type change inside a chunk splits it
    (["B-LOC", "I-LOC"], ["B-LOC", "I-PER"], 0, 1, 2),
])
def test_span_counts(gold, pred, correct, n_gold, n_pred):
  assert {k: v for k, v in spans.span_counts(gold, pred).items() if ":" not in k} == {
      "correct": correct, "gold": n_gold, "pred": n_pred}



def _random_tags(rng, n):
  """BIO tags over two types with improper sequences on purpose (I- after O or another type)."""
  names = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
  return [names[i] for i in rng.integers(0, len(names), n)]


def test_span_scores_match_seqeval_on_random_and_improper_tag_sequences():
  """seqeval's default mode follows conlleval (an I-X after O or another type opens a span)."""
  seqeval_metrics = pytest.importorskip("seqeval.metrics", reason="pip install -e .[test]")
  rng = np.random.default_rng(0)
  gold, pred = [], []
  for _ in range(200):
    n = int(rng.integers(1, 12))
    gold.append(_random_tags(rng, n))
    pred.append(gold[-1] if rng.random() < 0.3 else _random_tags(rng, n))
  counts = sum((spans.span_counts(g, p) for g, p in zip(gold, pred)), start=Counter())
  ours = spans.span_prf(counts, "test")
  assert ours["test/span_precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred))
  assert ours["test/span_recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred))
  assert ours["test/span_f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred))
  report = seqeval_metrics.classification_report(gold, pred, output_dict=True)
  for kind in ("PER", "LOC"):
    assert ours[f"test/span_f1_{kind}"] == pytest.approx(report[kind]["f1-score"])
  assert 0.1 < ours["test/span_f1"] < 0.9  # neither trivial case: the comparison can fail

def test_span_prf():
  out = spans.span_prf({"correct": 1, "gold": 4, "pred": 2}, "test")
  assert out["test/span_precision"] == 0.5
  assert out["test/span_recall"] == 0.25
  assert out["test/span_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
  assert spans.span_prf({"correct": 0, "gold": 0, "pred": 0}, "val")["val/span_f1"] == 0.0


def test_coarse_ids_from_fine_names():
  coarse_of = metrics.coarse_ids(["NUM:count", "ABBR:exp", "NUM:other", "LOC:other"])
  np.testing.assert_array_equal(coarse_of, [2, 0, 2, 1])  # ABBR, LOC, NUM in sorted order
  # One label without the hierarchy (coarse TREC, the OOV label): nothing to score.
  assert metrics.coarse_ids(["NUM", "LOC"]) is None
  assert metrics.coarse_ids(["NUM:count", "<unk>"]) is None


def test_coarse_accuracy_against_float64_reference():
  """Summed fine probabilities per coarse class, masked rows left out; float64 numpy."""
  rng = np.random.default_rng(0)
  coarse_of = np.array([0, 0, 1, 1, 1, 2], np.int32)
  logits = rng.normal(size=(16, 6)) * 2
  labels = rng.integers(0, 6, size=16).astype(np.int32)
  mask = rng.random(16) < 0.75
  # Rows where the Bayes choice and the coarse class of the argmax disagree must exist, or
  # the test could not tell the two rules apart.
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  by_coarse = np.stack([probs[:, coarse_of == c].sum(-1) for c in range(3)], -1)
  want_pred = by_coarse.argmax(-1)
  assert np.any(want_pred != coarse_of[probs.argmax(-1)])
  batch = {"labels": jnp.asarray(labels), "mask": jnp.asarray(mask),
           "lengths": jnp.ones(16, jnp.int32)}
  _, sums = metrics.loss_and_sums(jnp.asarray(logits, jnp.float32), batch, coarse_of)
  want = np.sum((want_pred == coarse_of[labels]) & mask)
  assert float(sums["coarse_correct_sum"]) == want
  result = metrics.summarize(sums, "test")
  assert result["test/coarse_accuracy"] == pytest.approx(want / mask.sum())
  _, plain = metrics.loss_and_sums(jnp.asarray(logits, jnp.float32), batch)
  assert "coarse_correct_sum" not in plain and "test/coarse_accuracy" not in metrics.summarize(
      plain, "test")


def test_label_smoothing_against_float64_reference():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(8, 5)) * 3
  labels = rng.integers(0, 5, size=8).astype(np.int32)
  mask = np.array([1, 1, 1, 0, 1, 1, 0, 1], bool)
  batch = {"labels": jnp.asarray(labels), "mask": jnp.asarray(mask),
           "lengths": jnp.ones(8, jnp.int32)}
  smoothing = 0.2
  log_probs = logits - logits.max(-1, keepdims=True)
  log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
  targets = np.full((8, 5), smoothing / 5) + (1 - smoothing) * np.eye(5)[labels]
  want = np.sum(-(targets * log_probs).sum(-1) * mask) / mask.sum()
  loss, sums = metrics.loss_and_sums(jnp.asarray(logits, jnp.float32), batch,
                                     label_smoothing=smoothing)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  _, plain_sums = metrics.loss_and_sums(jnp.asarray(logits, jnp.float32), batch)
  assert float(plain_sums["loss_sum"]) != pytest.approx(float(sums["loss_sum"]))
  assert float(sums["correct_sum"]) == float(plain_sums["correct_sum"])
