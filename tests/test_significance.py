"""Significance tests: Monte Carlo p-values against exact enumeration, Holm, intervals."""

import itertools
import os

import numpy as np
import pytest
import scipy.stats

from bilstm_jax.sweeps import naming, plan, tables
from bilstm_jax.sweeps import significance as sig
from bilstm_jax.sweeps import spec as sweep
from bilstm_jax.training import predictions, run_files


def _systems(n, seed, p_a=0.8, p_b=0.6):
  """Per-example [correct, 1] statistics of two classifiers."""
  rng = np.random.default_rng(seed)
  a = np.stack([rng.random(n) < p_a, np.ones(n)], axis=1).astype(float)
  b = np.stack([rng.random(n) < p_b, np.ones(n)], axis=1).astype(float)
  return a, b


def _exact_bootstrap(a, b, metric):
  n = len(a)
  delta = metric(a.sum(0)) - metric(b.sum(0))
  if delta <= 0:  # A is not better: nothing to test (the definition's p = 1)
    return 1.0
  hits = total = 0
  for idx in itertools.product(range(n), repeat=n):
    idx = list(idx)
    hits += metric(a[idx].sum(0)) - metric(b[idx].sum(0)) > 2 * delta
    total += 1
  return hits / total


def _exact_randomization(a, b, metric):
  n = len(a)
  observed = abs(metric(a.sum(0)) - metric(b.sum(0)))
  hits = 0
  for swaps in itertools.product([False, True], repeat=n):
    s = np.array(swaps)[:, None]
    a_star, b_star = np.where(s, b, a), np.where(s, a, b)
    hits += abs(metric(a_star.sum(0)) - metric(b_star.sum(0))) >= observed - 1e-12
  return hits / 2 ** n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_matches_exact_enumeration(seed):
  a, b = _systems(6, seed, 0.7, 0.4)
  if sig.accuracy(a.sum(0)) <= sig.accuracy(b.sum(0)):
    a, b = b, a
  exact = _exact_bootstrap(a, b, sig.accuracy)
  got = sig.paired_bootstrap(a, b, sig.accuracy, resamples=20000, seed=seed)
  assert abs(got - exact) < 4 * np.sqrt(max(exact * (1 - exact), 1e-4) / 20000) + 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_randomization_matches_exact_enumeration_for_f1(seed):
  # Span statistics [correct, gold, predicted]: F1 is not a mean over examples.
  rng = np.random.default_rng(seed)
  gold = rng.integers(0, 3, 10)
  a = np.stack([np.minimum(gold, rng.integers(0, 3, 10)), gold, rng.integers(0, 3, 10)], 1)
  b = np.stack([np.minimum(gold, rng.integers(0, 2, 10)), gold, rng.integers(0, 3, 10)], 1)
  a = np.stack([np.minimum(a[:, 0], a[:, 2]), a[:, 1], a[:, 2]], 1).astype(float)
  b = np.stack([np.minimum(b[:, 0], b[:, 2]), b[:, 1], b[:, 2]], 1).astype(float)
  exact = _exact_randomization(a, b, sig.span_f1)
  got = sig.approximate_randomization(a, b, sig.span_f1, resamples=20000, seed=seed)
  assert abs(got - exact) < 4 * np.sqrt(max(exact * (1 - exact), 1e-4) / 20000) + 1e-3


def test_error_rates_are_lower_is_better():
  a = np.array([[0, 4], [1, 4], [0, 3]] * 20, float)  # few edits
  b = np.array([[2, 4], [1, 4], [2, 3]] * 20, float)  # many
  assert sig.paired_bootstrap(a, b, sig.error_rate, higher_is_better=False) < 0.01
  assert sig.paired_bootstrap(b, a, sig.error_rate, higher_is_better=False) == 1.0


def test_a_clear_gap_is_significant_and_noise_is_not():
  a, b = _systems(2000, 0, 0.80, 0.70)
  assert sig.paired_bootstrap(a, b, sig.accuracy) < 0.001
  assert sig.approximate_randomization(a, b, sig.accuracy, resamples=2000) < 0.01
  same_a, same_b = _systems(2000, 1, 0.75, 0.75)
  if sig.accuracy(same_a.sum(0)) < sig.accuracy(same_b.sum(0)):
    same_a, same_b = same_b, same_a
  assert sig.paired_bootstrap(same_a, same_b, sig.accuracy) > 0.05
  rng = np.random.default_rng(3)
  seeds_a, seeds_b = 0.85 + 0.005 * rng.normal(size=3), 0.85 + 0.005 * rng.normal(size=3)
  hi, lo = (seeds_a, seeds_b) if seeds_a.mean() > seeds_b.mean() else (seeds_b, seeds_a)
  assert sig.welch(hi, lo) > 0.05
  assert sig.welch([0.9, 0.91, 0.92], [0.80, 0.81, 0.82]) < 0.01
  want = scipy.stats.ttest_ind([3, 4, 6], [1, 2, 2.5], equal_var=False,
                               alternative="greater").pvalue
  assert sig.welch([3, 4, 6], [1, 2, 2.5]) == pytest.approx(want)
  # Lower is better: [0.1, 0.2, 0.25] beats [0.3, 0.4, 0.6] as -x does in the other direction.
  assert sig.welch([0.1, 0.2, 0.25], [0.3, 0.4, 0.6], higher_is_better=False) == pytest.approx(
      sig.welch([-0.1, -0.2, -0.25], [-0.3, -0.4, -0.6]))
  assert np.isnan(sig.welch([0.9], [0.8, 0.7]))


def test_holm_bonferroni_and_the_confidence_interval():
  np.testing.assert_allclose(sig.holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
  got = sig.holm([0.02, float("nan")])
  assert got[0] == 0.02 and np.isnan(got[1])
  lo, hi = sig.confidence_interval([1.0, 2.0, 3.0])
  half = scipy.stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
  assert (lo, hi) == (pytest.approx(2 - half), pytest.approx(2 + half))
  assert all(np.isnan(sig.confidence_interval([1.0])))


def _write_run(workdir, correct_N, label_names=("a", "b")):
  """A finished classification run whose saved test predictions are right where correct_N."""
  os.makedirs(workdir, exist_ok=True)
  gold = np.zeros(len(correct_N), np.int32)
  probs = np.where(correct_N[:, None], [[0.9, 0.1]], [[0.1, 0.9]]).astype(np.float32)
  keep = predictions.Collector(list(label_names))
  keep.add_classes(np.arange(len(gold)), gold, probs)
  rel = predictions.write(workdir, "test", keep)
  run_files.write_results(workdir, {"test/accuracy": float(np.mean(correct_N)),
                                    "predictions": {"test": rel}})


@pytest.mark.parametrize("test", ["bootstrap", "randomization", "welch"])
def test_a_table_marks_seed_noise_as_not_different_and_a_real_gap_as_different(tmp_path, test):
  table = sweep.Table(metric="test/accuracy", rows=("model.units",))
  rows = sweep.product(("model.units", [8, 16, 32]), sweep.seeds(3))
  runs = [plan.Run(i, n, "c.py", r, str(tmp_path / n))
          for i, (r, n) in enumerate(zip(rows, naming.run_names(rows)))]
  rng = np.random.default_rng(0)
  # units 8 and 16: the same accuracy (0.80) up to seed noise; 32: clearly worse (0.60).
  for run in runs:
    rate = 0.60 if run.overrides["model.units"] == 32 else 0.80
    _write_run(run.workdir, rng.random(600) < rate)
  paths, markdown, cells = tables.write_tables("s", table, runs, str(tmp_path / "tables"),
                                               commands=["bilstm-sweep table s.py"], test=test)
  cells = cells.set_index("model.units")
  best = cells["mean"].idxmax()
  noise = "16" if best == "8" else "8"
  assert bool(cells.loc[noise, "dagger"]) and not bool(cells.loc["32", "dagger"])
  assert cells.loc["32", "p"] < 0.05 and cells.loc[noise, "p"] >= 0.05
  assert set(cells["test"]) == {test, ""}  # "": the best row, not tested
  assert "†" in markdown
  with open(paths[4]) as f:
    about = f.read()
  assert "## Significance" in about and "Holm-Bonferroni" in about
  assert about.count("| † |") == 1 and about.count("| best |") == 1
  if test == "bootstrap":  # no resample reaches the 0.2 gap: p is below one in 10,000, not 0
    assert cells.loc["32", "raw_p"] == 0 and "| bootstrap | <0.0001 | <0.0001 |" in about
