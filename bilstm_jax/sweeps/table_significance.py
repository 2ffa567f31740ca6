"""Which rows of a table column are significantly worse than its best row, and how sure each
cell is: the tests of significance.py applied to a sweep's runs.

Per column, the best row (by seed mean, in the metric's direction) is compared with every other
row. The paired tests (`bootstrap`, `randomization`) read each run's saved test predictions
(training/predictions.py), turn them into per-example statistics for the table's metric
(STATS), and average a row's seeds per example; `welch` reads the seeds' scores. Holm-Bonferroni
corrects each column's p-values for its number of comparisons. A row whose corrected p-value is
at least alpha is not significantly worse than the best: it is marked with a dagger (the best
row is bold). A row whose runs saved no predictions (runs made before they were saved) falls
back to Welch's t, and says so.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from bilstm_jax.core import ctc
from bilstm_jax.sweeps import significance as sig
from bilstm_jax.training import metric_direction, predictions, run_files
from bilstm_jax.training import spans as spans_lib

DEFAULT_TEST = "bootstrap"
DEFAULT_ALPHA = 0.05
RESAMPLES = 10000


def _accuracy_stats(saved) -> np.ndarray:
  if "lengths" in saved:  # tags per token or frame: one row per sentence
    return np.array([[np.sum(g == p), len(g)] for g, p in zip(saved["gold"], saved["pred"])],
                    np.float64).reshape(-1, 2)
  return np.stack([saved["gold"] == saved["pred"], np.ones(len(saved["gold"]))], 1).astype(float)


def _frame_error_stats(saved) -> np.ndarray:
  correct_N2 = _accuracy_stats(saved)
  return np.stack([correct_N2[:, 1] - correct_N2[:, 0], correct_N2[:, 1]], 1)


def _span_stats(saved) -> np.ndarray:
  names = [str(n) for n in saved["label_names"]]
  rows = []
  for g, p in zip(saved["gold"], saved["pred"]):
    counts = spans_lib.span_counts([names[t] for t in g], [names[t] for t in p])
    rows.append([counts["correct"], counts["gold"], counts["pred"]])
  return np.array(rows, np.float64).reshape(-1, 3)


def _string_stats(decoded: str, sequence: bool):
  def stats(saved) -> np.ndarray:
    rows = []
    for ref, hyp in zip(saved["gold"], saved[decoded]):
      edits = ctc.edit_distance(ref.tolist(), hyp.tolist())
      rows.append([edits > 0, 1] if sequence else [edits, len(ref)])
    return np.array(rows, np.float64).reshape(-1, 2)
  return stats


# The last part of a metric key -> (per-example statistics of a predictions file, metric).
STATS = {
    "accuracy": (_accuracy_stats, sig.accuracy),
    "span_f1": (_span_stats, sig.span_f1),
    "frame_error_rate": (_frame_error_stats, sig.error_rate),
    "label_error_rate": (_string_stats("pred", False), sig.error_rate),
    "label_error_rate_beam": (_string_stats("beam", False), sig.error_rate),
    "sequence_error_rate": (_string_stats("pred", True), sig.error_rate),
    "sequence_error_rate_beam": (_string_stats("beam", True), sig.error_rate),
}


@dataclasses.dataclass
class Comparison:
  """One row of a column against the column's best row."""
  p: float  # corrected (Holm) p-value of the chosen test; nan for the best row
  raw_p: float
  test: str  # the test that gave p (a paired test may fall back to welch)
  welch_p: float  # uncorrected
  same_as_best: bool  # not significantly worse: the dagger


def _example_stats(workdir: str, split: str, metric: str) -> np.ndarray | None:
  """[N, k] statistics of one run's saved predictions for `metric`, or None."""
  results = run_files.read_results(workdir) or {}
  rel = (results.get("predictions") or {}).get(split)
  name = metric.rpartition("/")[2]
  if rel is None or name not in STATS or not os.path.exists(os.path.join(workdir, rel)):
    return None
  saved = predictions.load(os.path.join(workdir, rel))
  if name.endswith("_beam") and "beam" not in saved:
    return None
  return STATS[name][0](saved)


def _pooled(frame: pd.DataFrame, split: str, metric: str) -> np.ndarray | None:
  """A cell's seeds' statistics averaged per example (None when any run lacks them or the
  runs disagree on the examples)."""
  stats = [_example_stats(w, split, metric) for w in frame["workdir"]]
  if not stats or any(s is None for s in stats) or len({s.shape for s in stats}) != 1:
    return None
  return np.mean(stats, axis=0)


def compare_column(done: pd.DataFrame, best_key, metric: str, test: str, alpha: float,
                   resamples: int = RESAMPLES) -> dict:
  """{row key: Comparison} for one column. `done`: finished runs of the column, with a 'row'
  key column, 'workdir' and 'value'."""
  higher = metric_direction.higher_is_better(metric)
  split = metric.partition("/")[0]
  by_row = {key: group for key, group in done.groupby("row", sort=False)}
  best = by_row[best_key]
  best_stats = _pooled(best, split, metric) if test != "welch" else None
  raw, tests, welch = {}, {}, {}
  for key, group in by_row.items():
    if key == best_key:
      continue
    welch[key] = sig.welch(best["value"], group["value"], higher_is_better=higher)
    stats = _pooled(group, split, metric) if best_stats is not None else None
    if stats is not None and stats.shape == best_stats.shape:
      paired = (sig.paired_bootstrap if test == "bootstrap" else sig.approximate_randomization)
      raw[key] = paired(best_stats, stats, STATS[metric.rpartition("/")[2]][1],
                        higher_is_better=higher, resamples=resamples)
      tests[key] = test
    else:
      raw[key], tests[key] = welch[key], "welch"
  keys = list(raw)
  corrected = dict(zip(keys, sig.holm([raw[k] for k in keys])))
  out = {best_key: Comparison(float("nan"), float("nan"), test, float("nan"), True)}
  for key in keys:
    p = corrected[key]
    # nan (a single seed on one side, no predictions): no evidence either way, no dagger.
    out[key] = Comparison(p, raw[key], tests[key], welch[key], bool(p >= alpha))
  return out


def annotate(frame: pd.DataFrame, cells: pd.DataFrame, table, test: str = DEFAULT_TEST,
             alpha: float = DEFAULT_ALPHA, resamples: int = RESAMPLES) -> pd.DataFrame:
  """`cells` (tables.aggregate) with the 95% interval of each seed mean (ci_lo, ci_hi) and,
  per column, the comparison with the column's best row: p (Holm-corrected), raw_p, test,
  welch_p and dagger (not significantly worse than the best, the best itself excluded)."""
  if test not in sig.TESTS:
    raise ValueError(f"unknown test {test!r}; allowed: {', '.join(sig.TESTS)}")
  if not 0 < alpha < 1:
    raise ValueError(f"alpha must be in (0, 1), got {alpha}")
  from bilstm_jax.sweeps import tables  # pylint: disable=import-outside-toplevel (a cycle)
  cells = cells.copy()
  rows_keys, col_keys = list(table.rows), list(table.cols)
  done = frame[(frame["status"] == "done") & (frame["planned"] > 0)].copy()
  done["row"] = [tuple(r) for r in done[rows_keys].itertuples(index=False)] if rows_keys \
      else [()] * len(done)
  intervals = {}
  for key, group in done.groupby(rows_keys + col_keys, sort=False) if rows_keys + col_keys \
      else [((), done)]:
    intervals[key if isinstance(key, tuple) else (key,)] = sig.confidence_interval(group["value"])
  for name in ("ci_lo", "ci_hi", "p", "raw_p", "welch_p"):
    cells[name] = np.nan
  cells["test"], cells["dagger"], cells["best"] = "", False, False
  for i, cell in cells.iterrows():
    key = tuple(cell[k] for k in rows_keys + col_keys)
    if key in intervals:
      cells.loc[i, ["ci_lo", "ci_hi"]] = intervals[key]
  for col in {tuple(cell[k] for k in col_keys) for _, cell in cells.iterrows()}:
    in_col = done
    for k, v in zip(col_keys, col):
      in_col = in_col[in_col[k] == v]
    if in_col["row"].nunique() < 2:
      continue
    metric = tables.column_metric(col, table)
    means = in_col.groupby("row", sort=False)["value"].mean()
    best = means.idxmax() if metric_direction.higher_is_better(metric) else means.idxmin()
    result = compare_column(in_col, best, metric, test, alpha, resamples)
    for i, cell in cells.iterrows():
      row = tuple(cell[k] for k in rows_keys)
      if tuple(cell[k] for k in col_keys) == col and row in result:
        c = result[row]
        cells.loc[i, ["p", "raw_p", "welch_p"]] = [c.p, c.raw_p, c.welch_p]
        cells.loc[i, "test"] = "" if row == best else c.test  # the best row is not tested
        cells.loc[i, "dagger"] = c.same_as_best and row != best
        cells.loc[i, "best"] = row == best
  return cells


def report_lines(cells: pd.DataFrame, table, test: str, alpha: float,
                 resamples: int = RESAMPLES) -> list[str]:
  """The about.md section: the tests, alpha, resamples, and every cell's interval and p."""
  paired = {"bootstrap": f"paired bootstrap over test examples ({resamples} resamples; "
                         "Koehn 2004, Berg-Kirkpatrick et al. 2012)",
            "randomization": f"approximate randomisation over test examples ({resamples} "
                             "shuffles; Noreen 1989)",
            "welch": "Welch's t over seed scores (one-sided)"}[test]
  if test != "welch" and set(cells["test"]) - {""} == {"welch"}:  # every run predates them
    paired, test = ("Welch's t over seed scores (one-sided; the runs saved no predictions for "
                    f"the {test} test)"), "welch"
  pooled = "" if test == "welch" else "; a row's seeds' predictions are pooled per example"
  method = (f"Each row is compared with its column's best row by {paired}{pooled}. "
            "p-values are Holm-Bonferroni corrected within "
            f"each column; † marks a row whose corrected p >= alpha = {alpha} (not "
            "significantly worse than the best). Rows whose runs saved no predictions use "
            "Welch's t over seed scores instead (column 'test'); a comparison with a single "
            "seed on one side has no p-value and no mark. 95% intervals: Student t over the "
            "seeds.")
  lines = ["## Significance", "", method, "",
           "| " + " | ".join([*table.rows, *table.cols, "mean", "95% CI", "test", "p (raw)",
                              "p (Holm)", "Welch p", "mark"]) + " |",
           "|" + "---|" * (len(table.rows) + len(table.cols) + 7)]

  def num(x):
    return "–" if pd.isna(x) else f"{x:.{table.digits}f}"

  def pval(x, test=""):
    if pd.isna(x):
      return "–"
    # No bootstrap resample reached the observed gap: p is below one resample, not zero.
    return f"<{1 / resamples:.2g}" if x == 0 and test == "bootstrap" else f"{x:.3g}"

  for _, cell in cells[cells["planned"] > 0].iterrows():
    if cell["n"] == 0:
      continue
    mark = "best" if cell["best"] else ("†" if cell["dagger"] else "")
    lines.append("| " + " | ".join([
        *(str(cell[k]) for k in (*table.rows, *table.cols)), num(cell["mean"]),
        f"[{num(cell['ci_lo'])}, {num(cell['ci_hi'])}]", cell["test"] or "–",
        pval(cell["raw_p"], cell["test"]), pval(cell["p"], cell["test"]),
        pval(cell["welch_p"]), mark]) + " |")
  return lines
