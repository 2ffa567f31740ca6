"""Significance and confidence for sweep tables: paired tests over test examples, Welch's t over
seed scores, Holm-Bonferroni, and confidence intervals of a cell's seed mean.

Paired tests compare two systems on the same examples. Each example contributes a vector of
additive statistics (accuracy: [correct, count]; span F1: [correct, gold, predicted]; label
error rate: [edits, reference length]) and a metric maps the summed vector to a score, so a
resample of the examples is scored exactly as the whole split is. A row's statistics are its
seeds' statistics averaged per example (the seeds' pooled predictions).

- Paired bootstrap (Koehn 2004, with the test of Berg-Kirkpatrick et al. 2012): with
  delta = score(A) - score(B) > 0 (A the better), resample the examples with replacement and
  count the resamples whose delta* exceeds 2 delta; p = that share. Small p: A is better
  beyond what resampling the test set explains.
- Approximate randomisation (Noreen 1989; Riezler & Maxwell 2005): swap each example's A and
  B statistics with probability 1/2 and count |delta*| >= |delta|; p = (count + 1) /
  (resamples + 1).
- Welch's t over seed scores (scipy.stats.ttest_ind, unequal variances, one-sided).

Every function takes the metric's direction, so a loss or an error rate works like accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats

TESTS = ("bootstrap", "randomization", "welch")

Metric = Callable[[np.ndarray], float]  # summed statistics [k] -> score


def accuracy(total_k: np.ndarray) -> float:
  """[correct, count]."""
  return float(total_k[0]) / max(float(total_k[1]), 1e-12)


def span_f1(total_k: np.ndarray) -> float:
  """[correct, gold, predicted] spans."""
  correct, gold, pred = (float(x) for x in total_k[:3])
  return 2 * correct / (gold + pred) if gold + pred else 0.0


def error_rate(total_k: np.ndarray) -> float:
  """[errors (edits), reference length]."""
  return float(total_k[0]) / max(float(total_k[1]), 1e-12)


def _oriented(metric: Metric, higher_is_better: bool) -> Metric:
  return metric if higher_is_better else (lambda total: -metric(total))


CHUNK = 500  # resamples drawn at once: [CHUNK, N] weights, never [resamples, N]


def _deltas(sums_a_RxK: np.ndarray, sums_b_RxK: np.ndarray, score: Metric) -> np.ndarray:
  return np.array([score(a) - score(b) for a, b in zip(sums_a_RxK, sums_b_RxK)])


def paired_bootstrap(a_NxK: np.ndarray, b_NxK: np.ndarray, metric: Metric, *,
                     higher_is_better: bool = True, resamples: int = 10000,
                     seed: int = 0) -> float:
  """p-value that A (the better on the full set) is not better than B; 1.0 when A is not
  better at all. Resampling draws example counts from a multinomial, the same as drawing N
  examples with replacement."""
  a_NxK, b_NxK = np.asarray(a_NxK, np.float64), np.asarray(b_NxK, np.float64)
  score = _oriented(metric, higher_is_better)
  n = len(a_NxK)
  delta = score(a_NxK.sum(0)) - score(b_NxK.sum(0))
  if delta <= 0:
    return 1.0
  rng = np.random.default_rng(seed)
  exceed = 0
  for start in range(0, resamples, CHUNK):
    counts_RxN = rng.multinomial(n, np.full(n, 1.0 / n),
                                 size=min(CHUNK, resamples - start)).astype(np.float64)
    exceed += int(np.sum(_deltas(counts_RxN @ a_NxK, counts_RxN @ b_NxK, score) > 2 * delta))
  return exceed / resamples


def approximate_randomization(a_NxK: np.ndarray, b_NxK: np.ndarray, metric: Metric, *,
                              higher_is_better: bool = True, resamples: int = 10000,
                              seed: int = 0) -> float:
  """Two-sided p-value of the difference between A and B (swaps of per-example statistics)."""
  a_NxK, b_NxK = np.asarray(a_NxK, np.float64), np.asarray(b_NxK, np.float64)
  score = _oriented(metric, higher_is_better)
  n = len(a_NxK)
  sum_a, sum_b = a_NxK.sum(0), b_NxK.sum(0)
  observed = abs(score(sum_a) - score(sum_b))
  moved_NxK = b_NxK - a_NxK  # what a swap of example i moves from B's sums to A's
  rng = np.random.default_rng(seed)
  at_least = 0
  for start in range(0, resamples, CHUNK):
    swaps_RxN = (rng.random((min(CHUNK, resamples - start), n)) < 0.5).astype(np.float64)
    shift_RxK = swaps_RxN @ moved_NxK
    deltas = _deltas(sum_a + shift_RxK, sum_b - shift_RxK, score)
    # A tolerance: a swap that leaves the sums unchanged must count as "as large".
    at_least += int(np.sum(np.abs(deltas) >= observed - 1e-12))
  return (at_least + 1) / (resamples + 1)


def welch(a_scores: Sequence[float], b_scores: Sequence[float], *,
          higher_is_better: bool = True) -> float:
  """One-sided Welch's t p-value that A's seed scores are not better than B's (nan with fewer
  than two scores on a side; 1.0 when neither side varies and A is not better)."""
  a, b = np.asarray(a_scores, np.float64), np.asarray(b_scores, np.float64)
  if len(a) < 2 or len(b) < 2:
    return float("nan")
  if not higher_is_better:
    a, b = -a, -b
  if a.std() == 0 and b.std() == 0:  # t is undefined: identical or separated without noise
    return 0.0 if a.mean() > b.mean() else 1.0
  return float(scipy.stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
  """Holm-Bonferroni adjusted p-values (same order; nan stays nan): reject where < alpha."""
  p = np.asarray(p_values, np.float64)
  adjusted = np.full(len(p), np.nan)
  ok = np.flatnonzero(~np.isnan(p))
  order = ok[np.argsort(p[ok], kind="stable")]
  m, running = len(order), 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (m - rank) * p[i]))
    adjusted[i] = running
  return adjusted


def confidence_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
  """Student-t interval of the mean of `values` (the seeds' scores); nan with fewer than 2."""
  x = np.asarray(values, np.float64)
  if len(x) < 2:
    return float("nan"), float("nan")
  half = scipy.stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
  return float(x.mean() - half), float(x.mean() + half)
