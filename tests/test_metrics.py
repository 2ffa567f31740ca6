"""Span F1 with conlleval semantics, against hand-computed cases."""

import pytest

from bilstm_jax import metrics


def test_spans_from_bio_and_stray_inside_tags():
  tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "B-ORG", "I-PER"]
  assert metrics.bio_spans(tags) == {("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5),
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
  assert metrics.span_counts(gold, pred) == {"correct": correct, "gold": n_gold, "pred": n_pred}


def test_span_prf():
  out = metrics.span_prf({"correct": 1, "gold": 4, "pred": 2}, "test")
  assert out["test/span_precision"] == 0.5
  assert out["test/span_recall"] == 0.25
  assert out["test/span_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
  assert metrics.span_prf({"correct": 0, "gold": 0, "pred": 0}, "val")["val/span_f1"] == 0.0
