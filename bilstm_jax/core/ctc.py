"""Connectionist Temporal Classification: loss, feasibility, best-path and prefix beam decoding.

A CTC model emits, at each of T frames, a distribution over K classes: the K - 1 labels plus a
blank, which is class 0 here (so ten digits take 11 outputs, digit d being class 1 + d). A frame
path pi in {0..K-1}^T *collapses* to a label string B(pi) by merging runs of equal classes and
then dropping blanks, so `a a _ a b b` -> `a a b`. Frames are independent given x, hence::

    p(y | x) = sum over paths pi with B(pi) = y of  prod_t p_t(pi_t)

The loss is -log p(y | x), summed by the forward algorithm over the extended string
`_ y_1 _ y_2 _ ... y_L _` (2L + 1 states): each frame either stays in its state, moves one state
on, or skips a blank between two labels, a skip that is forbidden when the two labels are equal,
since the repeat would merge into one. So a string of L labels with R adjacent equal pairs
needs at least L + R frames (`min_frames`); with fewer, no path collapses to it, p(y | x) = 0
and the loss would be infinite. Those rows are flagged *infeasible* and given nll 0 so that a
caller can mask and count them.

Decoding:
  * best path (`greedy_decode`): collapse the per-frame argmax. Fast and jit-able, but it is
    the collapse of the single most likely *path*, not the most likely *string*.
  * prefix beam search (`prefix_beam_search`, host side): grows label prefixes frame by frame and
    keeps, for each prefix, the summed probability of its alignments that end in a blank and of
    those that end in its last label; the split is what lets a repeated label extend only from
    the blank-ending mass. Kept wide enough it is exact MAP decoding over strings.

Scoring: `edit_distance` (Levenshtein) and `error_counts`, whose sums give the label error rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array


def min_frames(labels: Sequence[int]) -> int:
  """The fewest frames that can emit `labels`: its length plus its adjacent equal pairs."""
  labels = np.asarray(labels, np.int64).reshape(-1)
  return int(labels.size + np.count_nonzero(labels[1:] == labels[:-1]))


def ctc_feasible(logit_lengths_B, labels_BxL, label_lengths_B):
  """Bool [B]: whether each label string fits in its frames (T >= L + repeats).

  Works on numpy arrays (returning numpy, for the data layer) and on jax arrays or tracers
  (returning jax). Labels at or beyond a row's label length are ignored.
  """
  args = (logit_lengths_B, labels_BxL, label_lengths_B)
  xp = jnp if any(isinstance(a, jax.Array) for a in args) else np
  labels_BxL = xp.asarray(labels_BxL)
  max_labels = labels_BxL.shape[1]
  label_lengths_B = xp.clip(xp.asarray(label_lengths_B), 0, max_labels)
  # Pair (i - 1, i) counts only when i is inside the string; junk past the end may repeat too.
  inside_BxLm1 = xp.arange(1, max(max_labels, 1))[None, :] < label_lengths_B[:, None]
  repeats_B = ((labels_BxL[:, 1:] == labels_BxL[:, :-1]) & inside_BxLm1).sum(axis=1)
  return xp.asarray(logit_lengths_B) >= label_lengths_B + repeats_B


def ctc_loss(logits_BxTxK: Array, logit_lengths_B: Array, labels_BxL: Array,
             label_lengths_B: Array, blank: int = 0) -> tuple[Array, Array]:
  """(-log p(labels | logits) float32 [B], feasible bool [B]); infeasible rows have nll 0.

  Args:
    logits_BxTxK: unnormalised scores (log-softmaxed here), any float dtype; frames at or beyond
      `logit_lengths_B` may hold anything, inf included.
    logit_lengths_B: valid frames per row, clipped to [0, T].
    labels_BxL: int labels in 1..K-1 (never the blank), right-padded with anything.
    label_lengths_B: valid labels per row, clipped to [0, L]; 0 gives -sum_t log p_t(blank).
  """
  logits_BxTxK = jnp.asarray(logits_BxTxK, jnp.float32)
  labels_BxL = jnp.asarray(labels_BxL, jnp.int32)
  # optax's scan reads its last step and its repeat mask pads one column, so empty time or
  # label axes would break it; one extra padded frame or label changes nothing.
  if logits_BxTxK.shape[1] == 0:
    logits_BxTxK = jnp.zeros((logits_BxTxK.shape[0], 1, logits_BxTxK.shape[2]), jnp.float32)
  if labels_BxL.shape[1] == 0:
    labels_BxL = jnp.full((labels_BxL.shape[0], 1), blank, jnp.int32)
  num_frames, max_labels = logits_BxTxK.shape[1], labels_BxL.shape[1]
  logit_lengths_B = jnp.clip(jnp.asarray(logit_lengths_B, jnp.int32), 0, num_frames)
  label_lengths_B = jnp.clip(jnp.asarray(label_lengths_B, jnp.int32), 0, max_labels)
  frame_valid_BxT = jnp.arange(num_frames)[None, :] < logit_lengths_B[:, None]
  label_valid_BxL = jnp.arange(max_labels)[None, :] < label_lengths_B[:, None]
  # optax blends padded steps as pad * old + (1 - pad) * new, so an inf or NaN there would
  # still poison the sum (0 * inf); where() sends them exactly 0 and gives them zero gradient.
  logits_BxTxK = jnp.where(frame_valid_BxT[:, :, None], logits_BxTxK, jnp.zeros((), jnp.float32))
  # Junk labels can be out of range; padded label states never reach the answer, any id will do.
  labels_BxL = jnp.where(label_valid_BxL, labels_BxL, blank)
  feasible_B = ctc_feasible(logit_lengths_B, labels_BxL, label_lengths_B)
  # optax stands in log(0) by log_epsilon = -1e5, so an impossible string does not give inf
  # but a finite loss of about 1e5 (a multiple of it at most), which must never reach a mean.
  # A possible string's loss is exact unless it is itself beyond ~1e5 nats.
  nll_B = optax.ctc_loss(logits_BxTxK, (~frame_valid_BxT).astype(jnp.float32), labels_BxL,
                         (~label_valid_BxL).astype(jnp.float32), blank_id=blank)
  nll_B = nll_B.astype(jnp.float32)
  # Both branches are finite, so the where() also zeroes infeasible rows' gradients cleanly.
  return jnp.where(feasible_B, nll_B, jnp.zeros((), jnp.float32)), feasible_B


def greedy_decode(logits_BxTxK: Array, lengths_B: Array,
                  blank: int = 0) -> tuple[Array, Array]:
  """Best-path decoding: (tokens [B, T] int32, left-aligned, -1 padded; token_lengths [B] int32).

  Ties between classes in a frame go to the lowest index (argmax); frames at or beyond
  `lengths_B` are ignored.
  """
  logits_BxTxK = jnp.asarray(logits_BxTxK)
  batch, num_frames = logits_BxTxK.shape[:2]
  best_BxT = jnp.argmax(logits_BxTxK, axis=-1).astype(jnp.int32)
  valid_BxT = jnp.arange(num_frames)[None, :] < jnp.asarray(lengths_B, jnp.int32)[:, None]
  # Merge before dropping blanks: compare with the previous frame's class, blank included, so
  # `a _ a` stays two tokens. Frame t's predecessor is valid whenever frame t is.
  previous_BxT = jnp.concatenate(
      [jnp.full((batch, 1), -1, jnp.int32), best_BxT[:, :-1]], axis=1)
  keep_BxT = valid_BxT & (best_BxT != blank) & (best_BxT != previous_BxT)
  token_lengths_B = keep_BxT.sum(axis=1, dtype=jnp.int32)
  # A kept frame goes to slot (kept frames before it); the rest aim past the end and are dropped.
  slot_BxT = jnp.where(keep_BxT, jnp.cumsum(keep_BxT, axis=1, dtype=jnp.int32) - 1, num_frames)
  rows_BxT = jnp.broadcast_to(jnp.arange(batch, dtype=jnp.int32)[:, None], (batch, num_frames))
  tokens_BxT = jnp.full((batch, num_frames), -1, jnp.int32)
  tokens_BxT = tokens_BxT.at[rows_BxT, slot_BxT].set(best_BxT, mode="drop")
  return tokens_BxT, token_lengths_B


def _logaddexp(a: float, b: float) -> float:
  """log(e^a + e^b) on Python floats (np.logaddexp per scalar is several times slower)."""
  if a < b:
    a, b = b, a
  if b == -math.inf:
    return a
  return a + math.log1p(math.exp(b - a))


def _accumulate(beams: dict, prefix: tuple[int, ...], blank_score: float,
                label_score: float) -> None:
  """Adds alignment mass to a prefix's (blank-ending, label-ending) log scores in place."""
  scores = beams.setdefault(prefix, [-math.inf, -math.inf])
  scores[0] = _logaddexp(scores[0], blank_score)
  scores[1] = _logaddexp(scores[1], label_score)


def prefix_beam_search(log_probs_TxK: np.ndarray, beam_width: int,
                       blank: int = 0) -> tuple[list[int], float]:
  """CTC prefix beam search over one utterance: (best label string, its log-probability).

  `log_probs_TxK` holds the log-probabilities of the valid frames only. Each kept prefix
  carries two float64 scores, the log of the summed probability of its alignments so far that
  end in a blank and of those that end in its last label. Per frame a prefix can stay (a blank,
  or its last label again, which merges), or grow by a label c; when c equals its last label
  the growth comes only from the blank-ending mass (`a _ a` is `a a`, while `a a` is `a`). After
  each frame the `beam_width` prefixes with the largest total survive (ties: first reached).

  The returned log-probability sums only over the alignments the beam kept, so it is a lower
  bound on log p(string | x). When `beam_width` is at least the number of distinct prefixes
  (sum over l <= T of (K - 1)^l) nothing is pruned: every score is exact and the result is the
  MAP string. With `beam_width=1` it is close to, but not the same as, greedy best path: the
  single prefix is chosen by its summed alignments: after a first frame whose argmax is `a`, a
  second with p(blank) + p(a) > p(b) > max(p(blank), p(a)) keeps `a` where greedy says `a b`.
  """
  if beam_width < 1:
    raise ValueError(f"beam_width must be >= 1, got {beam_width}")
  log_probs_TxK = np.asarray(log_probs_TxK, np.float64)
  if log_probs_TxK.ndim != 2:
    raise ValueError(f"expected log-probabilities [T, K], got shape {log_probs_TxK.shape}")
  labels = [c for c in range(log_probs_TxK.shape[1]) if c != blank]
  # prefix -> (log mass ending in blank, log mass ending in the prefix's last label)
  beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
  for log_probs_K in log_probs_TxK.tolist():
    grown: dict[tuple[int, ...], list[float]] = {}
    for prefix, (blank_score, label_score) in beams.items():
      total = _logaddexp(blank_score, label_score)
      _accumulate(grown, prefix, total + log_probs_K[blank], -math.inf)
      last = prefix[-1] if prefix else None
      for c in labels:
        if c == last:
          _accumulate(grown, prefix, -math.inf, label_score + log_probs_K[c])
          _accumulate(grown, prefix + (c,), -math.inf, blank_score + log_probs_K[c])
        else:
          _accumulate(grown, prefix + (c,), -math.inf, total + log_probs_K[c])
    # sorted() is stable, so equal totals keep their (deterministic) insertion order.
    ranked = sorted(grown.items(), key=lambda item: -_logaddexp(*item[1]))
    beams = {prefix: tuple(scores) for prefix, scores in ranked[:beam_width]}
  best, scores = max(beams.items(), key=lambda item: _logaddexp(*item[1]))
  return list(best), _logaddexp(*scores)


def beam_decode_batch(log_probs_BxTxK: np.ndarray, lengths_B: np.ndarray, beam_width: int,
                      blank: int = 0) -> list[list[int]]:
  """`prefix_beam_search` on each row's first `lengths_B[b]` frames; the best strings.

  Rows are log-softmaxed here (after cutting the padding), so logits work too: a per-frame
  constant shifts every alignment equally and changes no ranking.
  """
  log_probs_BxTxK = np.asarray(log_probs_BxTxK, np.float64)
  decoded = []
  for scores_TxK, length in zip(log_probs_BxTxK, np.asarray(lengths_B).tolist()):
    scores_TxK = scores_TxK[:max(int(length), 0)]
    top_Tx1 = scores_TxK.max(axis=1, keepdims=True, initial=-np.inf)
    log_z_Tx1 = top_Tx1 + np.log(np.exp(scores_TxK - top_Tx1).sum(axis=1, keepdims=True))
    decoded.append(prefix_beam_search(scores_TxK - log_z_Tx1, beam_width, blank)[0])
  return decoded


def edit_distance(ref: Sequence[int], hyp: Sequence[int]) -> int:
  """Levenshtein distance: the fewest unit-cost substitutions, insertions and deletions."""
  ref = np.asarray(ref, np.int64).reshape(-1)
  hyp = np.asarray(hyp, np.int64).reshape(-1)
  columns = np.arange(hyp.size + 1)
  # One DP row per reference symbol; row[j] is the distance from ref[:i] to hyp[:j].
  row = columns.copy()
  for i, symbol in enumerate(ref.tolist(), start=1):
    diagonal_or_up = np.empty_like(row)
    diagonal_or_up[0] = i
    diagonal_or_up[1:] = np.minimum(row[:-1] + (hyp != symbol), row[1:] + 1)
    # Insertions chain left to right within the row, row[j] = min over k <= j of
    # (diagonal_or_up[k] + j - k): a running minimum of diagonal_or_up - j, plus j.
    row = np.minimum.accumulate(diagonal_or_up - columns) + columns
  return int(row[-1])


def error_counts(refs: Sequence[Sequence[int]], hyps: Sequence[Sequence[int]]) -> dict[str, int]:
  """Summed edit counts over a split: edits, ref_length, sequences, sequence_errors.

  The label (or phone, character, word) error rate is edits / ref_length with *both* summed
  over the whole split, not an average of per-utterance rates, so long utterances weigh more
  and an empty reference cannot divide by zero. The sequence error rate is sequence_errors /
  sequences. Summed counts also add up across batches and hosts.
  """
  if len(refs) != len(hyps):
    raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
  counts = {"edits": 0, "ref_length": 0, "sequences": 0, "sequence_errors": 0}
  for ref, hyp in zip(refs, hyps):
    ref, hyp = [int(c) for c in ref], [int(c) for c in hyp]
    counts["edits"] += edit_distance(ref, hyp)
    counts["ref_length"] += len(ref)
    counts["sequences"] += 1
    counts["sequence_errors"] += int(ref != hyp)
  return counts
