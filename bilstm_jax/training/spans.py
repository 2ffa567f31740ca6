"""Entity (chunk) scoring as conlleval does it: spans from BIO tags, micro and per-type P/R/F1.

A predicted span counts only when its type and both ends equal a gold span's. Improper
sequences are read as conlleval reads them: `I-X` after `O` or after another type opens an
entity, so a tagger that never emits `B-` is still scored on the spans it marks.
"""

from __future__ import annotations

import collections


def _split_tag(tag: str) -> tuple[str, str]:
  if tag == "O" or "-" not in tag:
    return "O", ""
  prefix, _, kind = tag.partition("-")
  return prefix, kind


def bio_spans(tags: list[str]) -> set[tuple[str, int, int]]:
  """Chunks as (type, first, last) with conlleval's rules.

  A chunk starts at B-X, or at I-X following O or a different type (so IOB1 and stray I-
  tags still form chunks, as in conlleval); it ends before O, B-*, or a change of type.
  """
  spans, start, kind = set(), None, None
  for i, tag in enumerate(list(tags) + ["O"]):
    prefix, tag_kind = _split_tag(tag)
    ends = start is not None and (prefix in ("O", "B") or tag_kind != kind)
    if ends:
      spans.add((kind, start, i - 1))
      start, kind = None, None
    if prefix == "B" or (prefix == "I" and start is None):
      start, kind = i, tag_kind
  return spans


def span_counts(gold: list[str], pred: list[str]) -> collections.Counter:
  """'correct', 'gold' and 'pred' span counts of one sentence, and the same per entity type
  under 'correct:TYPE', 'gold:TYPE', 'pred:TYPE' (summed over a split by Counter addition)."""
  gold_spans, pred_spans = bio_spans(gold), bio_spans(pred)
  counts = collections.Counter({"correct": 0, "gold": 0, "pred": 0})
  for field, spans in (("correct", gold_spans & pred_spans), ("gold", gold_spans),
                       ("pred", pred_spans)):
    counts[field] += len(spans)
    for kind, _, _ in spans:
      counts[f"{field}:{kind}"] += 1
  return counts


def _prf(correct: int, gold: int, pred: int) -> tuple[float, float, float]:
  precision = correct / pred if pred else 0.0
  recall = correct / gold if gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return precision, recall, f1


def span_prf(counts, split: str) -> dict[str, float]:
  """Micro span precision/recall/F1 over every entity, and the F1 of each type seen in gold or
  predictions (`split/span_f1_TYPE`)."""
  precision, recall, f1 = _prf(counts["correct"], counts["gold"], counts["pred"])
  out = {f"{split}/span_precision": precision, f"{split}/span_recall": recall,
         f"{split}/span_f1": f1}
  kinds = sorted({key.partition(":")[2] for key in counts if ":" in key})
  for kind in kinds:
    out[f"{split}/span_f1_{kind}"] = _prf(counts.get(f"correct:{kind}", 0),
                                          counts.get(f"gold:{kind}", 0),
                                          counts.get(f"pred:{kind}", 0))[2]
  return out
