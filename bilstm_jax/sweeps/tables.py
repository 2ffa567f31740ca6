"""A sweep's table from its run directories: Markdown, LaTeX (booktabs) and a PNG plot.

The local results.json files are the truth (W&B is only for watching). Each cell is the
sweep's metric aggregated over seeds as `mean ± std (n)`; a cell with fewer finished seeds than
planned shows `(n/planned)`, and every run not in the table is listed under it with its status.
The best cell per column is bold by the metric's direction (metric_direction.py); a row that
repeats another row's model shows `= <that row>`; every file is written atomically (files.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import pandas as pd

from bilstm_jax import files, provenance
from bilstm_jax.sweeps import naming, plan, table_plot, table_provenance, table_significance
from bilstm_jax.sweeps import spec as sweep_lib
from bilstm_jax.training import metric_direction, run_files

MISSING = "–"
# Not significantly worse than the column's best (table_significance.py), by output format.
DAGGER = {" ± ": "†", r" \pm ": r"^{\dagger}"}


def _label(run: plan.Run, key: str) -> str:
  return naming.format_value(run.overrides[key]) if key in run.overrides else MISSING


def default_status(run: plan.Run) -> str:
  return "done" if plan.is_finished(run) else "not finished"


def _alias(run: plan.Run, twin: plan.Run, table: sweep_lib.Table) -> str:
  """'= concat': the twin's labels where they differ from the row's (else its run name)."""
  differ = [_label(twin, key) for key in table.rows + table.cols
            if _label(twin, key) != _label(run, key)]
  return "= " + (", ".join(differ) if differ else twin.run_name)


def _number(results: dict, key: str) -> float:
  value = results.get(key)
  return float(value) if isinstance(value, (int, float)) else math.nan


def collect(runs: list[plan.Run], table: sweep_lib.Table,
            status: Callable[[plan.Run], str] = default_status,
            results_of: Callable[[plan.Run], dict | None] | None = None) -> pd.DataFrame:
  """One row per row of the sweep (and per metric, for Table.metrics): its table labels, seed,
  status and metric value (NaN if none), and from its results.json the wall time, commit (and
  whether it had uncommitted edits), machine and when it was written (for the provenance
  files). A row that repeats
  another row's model (Run.same_as) is not planned: its `alias` says which row it equals.
  `results_of` replaces reading each run's results.json (table_csv.results_from_csv)."""
  by_name = {run.run_name: run for run in runs}
  records = []
  read = results_of or (lambda run: run_files.read_results(run.workdir))
  for run in runs:
    results = None if run.same_as else read(run)
    path = os.path.join(run.workdir, run_files.RESULTS_FILE)
    for metric in table.all_metrics:  # one record per run and metric (Table.metrics)
      records.append(_record(run, by_name, table, metric, results, path, status))
  return pd.DataFrame.from_records(records)


def _record(run: plan.Run, by_name: dict, table: sweep_lib.Table, metric: str,
            results: dict | None, path: str, status: Callable[[plan.Run], str]) -> dict:
  """The record of `run` for one metric (see collect)."""
  saved = results or {}
  state = f"same model as {run.same_as}" if run.same_as else status(run)
  value = _number(saved, metric)
  if results is not None:
    has = isinstance(results.get(metric), (int, float))
    state = "done" if has else f"results.json has no {metric!r}"
  labels = {key: _label(run, key) for key in table.rows + table.cols
            if key != sweep_lib.METRIC_KEY}
  if table.metrics:
    labels[sweep_lib.METRIC_KEY] = metric
  return {
      "index": run.index, "run_name": run.run_name, "workdir": run.workdir,
      "seed": run.overrides.get(sweep_lib.SEED_KEY), "status": state, "value": value,
      **labels,
      "planned": 0 if run.same_as else 1, "same_as": run.same_as, "note": run.same_note,
      "alias": _alias(run, by_name[run.same_as], table) if run.same_as else "",
      "sort": _number(saved, table.sort_by) if table.sort_by else math.nan,
      "wall_time_s": saved.get("wall_time_s"),
      "finished_at": os.path.getmtime(path) if os.path.exists(path) else None,
      "git_commit": saved.get("git_commit"), "git_dirty": saved.get("git_dirty"),
      "machine": saved.get("machine")}


def per_run(frame: pd.DataFrame, table: sweep_lib.Table) -> pd.DataFrame:
  """One row per run: `frame` itself, or for a table of several metrics the first metric's
  rows with a column of values per metric (named by the metric)."""
  if not table.metrics:
    return frame
  out = frame[frame[sweep_lib.METRIC_KEY] == table.metrics[0]].reset_index(drop=True).copy()
  for metric in table.metrics:
    values = frame[frame[sweep_lib.METRIC_KEY] == metric].set_index("run_name")["value"]
    out[metric] = out["run_name"].map(values)
  return out


def aggregate(frame: pd.DataFrame, table: sweep_lib.Table) -> pd.DataFrame:
  """One row per (row labels, column labels) cell: mean, std (ddof=1), n done, n planned (0
  for a cell of rows that repeat other rows: `alias` says which), and the sort metric's mean."""
  keys = list(table.rows + table.cols)
  grouped = frame.groupby(keys, sort=False) if keys else frame.groupby(lambda _: "all")
  cells = grouped.agg(mean=("value", "mean"), std=("value", "std"), n=("value", "count"),
                      planned=("planned", "sum"), alias=("alias", "first"),
                      sort=("sort", "mean")).reset_index()
  if not keys:
    cells = cells.drop(columns="index")
  return cells


def _fmt_cell(cell, digits: int, bold: Callable[[str], str] | None, pm: str) -> str:
  n, planned = int(cell["n"]), int(cell["planned"])
  if planned == 0:
    return cell["alias"]
  count = f"({n})" if n == planned else f"({n}/{planned})"
  if n == 0:
    return f"{MISSING} {count}"
  text = f"{cell['mean']:.{digits}f}"
  if n > 1:
    text += f"{pm}{cell['std']:.{digits}f}"
  dagger = DAGGER.get(pm, "") if cell.get("dagger", False) else ""
  return f"{bold(text) if bold else text}{dagger} {count}"


def _grid(cells: pd.DataFrame, table: sweep_lib.Table):
  """(row label tuples, column label tuples, {(row, col): cell}) in sweep order, or with
  `sort_by` best sort-metric mean first (rows without one last)."""
  if table.sort_by:
    best_first = not metric_direction.higher_is_better(table.sort_by)
    cells = cells.sort_values("sort", ascending=best_first, na_position="last", kind="stable")
  row_keys, col_keys = list(table.rows), list(table.cols)
  grid, row_labels, col_labels = {}, {}, {}
  for _, cell in cells.iterrows():
    r = tuple(cell[k] for k in row_keys)
    c = tuple(cell[k] for k in col_keys)
    row_labels.setdefault(r, None)
    col_labels.setdefault(c, None)
    grid[(r, c)] = cell
  return list(row_labels), list(col_labels), grid


def _best(grid, rows, col, table: sweep_lib.Table):
  """The column's best rounded mean by the metric's direction (a loss or an error rate: the
  lowest), or None if the column is empty; ties are all bold."""
  means = [round(grid[(r, col)]["mean"], table.digits) for r in rows
           if (r, col) in grid and grid[(r, col)]["n"] > 0]
  if not means:
    return None
  return max(means) if metric_direction.higher_is_better(column_metric(col, table)) else min(means)


def column_metric(col: tuple, table: sweep_lib.Table) -> str:
  """The metric of a column: its METRIC_KEY value in a table of several metrics."""
  if table.metrics:
    return col[table.cols.index(sweep_lib.METRIC_KEY)]
  return table.metric


def metrics_text(table: sweep_lib.Table) -> str:
  return ", ".join(table.all_metrics)


def _bold(cell, best, table: sweep_lib.Table, mark: Callable[[str], str]):
  return mark if cell["n"] > 0 and round(cell["mean"], table.digits) == best else None


def _header(table: sweep_lib.Table, cols) -> list[str]:
  sort = [table.sort_by] if table.sort_by else []
  return ([table_plot.short_key(k) for k in table.rows] + sort
          + [table_plot.col_name(c, table) for c in cols])


def _sort_text(cell, table: sweep_lib.Table) -> str:
  return MISSING if pd.isna(cell["sort"]) else f"{cell['sort']:.{table.digits}f}"


def _not_in_table(frame: pd.DataFrame) -> list[tuple[str, int, str]]:
  """(run name, row index, status) of every planned run without a value in the table."""
  rows = frame[(frame["status"] != "done") & (frame["planned"] > 0)]
  rows = rows.drop_duplicates("run_name")  # a run appears once per metric (Table.metrics)
  return [(r.run_name, r.index, r.status) for r in rows.itertuples()]


def _alias_notes(frame: pd.DataFrame) -> list[str]:
  """One line per kind of row not run because it repeats another row's model."""
  same = frame[frame["planned"] == 0].drop_duplicates(["alias", "note"])
  return [f"`{r.alias}`: not run, the same model as that row ({r.note})."
          for r in same.itertuples()]


def to_markdown(name: str, frame: pd.DataFrame, cells: pd.DataFrame,
                table: sweep_lib.Table) -> str:
  rows, cols, grid = _grid(cells, table)
  header = _header(table, cols)
  lines = [f"# {table.title or name}", "",
           "| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] * len(table.rows) + ["---:"] * (len(header) - len(table.rows)))
           + "|"]
  best = {c: _best(grid, rows, c, table) for c in cols}
  for r in rows:
    out = list(r) + ([_sort_text(grid[(r, cols[0])], table)] if table.sort_by else [])
    for c in cols:
      if (r, c) not in grid:
        out.append("")
        continue
      cell = grid[(r, c)]
      bold = _bold(cell, best[c], table, lambda t: f"**{t}**")
      out.append(_fmt_cell(cell, table.digits, bold, " ± "))
    lines.append("| " + " | ".join(out) + " |")
  runs = per_run(frame, table)
  planned = int(runs["planned"].sum())
  done = int(((runs["status"] == "done") & (runs["planned"] > 0)).sum())
  if table.metrics:
    direction = "the best of its metric (highest, or lowest for losses and error rates)"
  else:
    direction = "the " + ("highest" if metric_direction.higher_is_better(table.metric)
                          else "lowest")
  order = f"; rows by {table.sort_by} (seed mean), best first" if table.sort_by else ""
  lines += ["", (f"{metrics_text(table)}: mean ± std over seeds (n runs; n/planned where runs "
                 f"are missing); bold: {direction} per column{order}. {done} of {planned} runs "
                 "done.")]
  if "test" in cells and cells["test"].astype(bool).any():
    lines += ["", (f"†: not significantly worse than the column's best ({_test_text(cells)}, "
                   "Holm-Bonferroni over the column's rows, alpha "
                   f"{cells.attrs.get('alpha', '')}); p-values and 95% intervals in "
                   f"{name}.about.md.")]
  notes = _alias_notes(frame)
  if notes:
    lines += [""] + notes
  missing = _not_in_table(frame)
  if missing:
    lines += ["", f"Not in the table ({len(missing)} runs):", ""]
    lines += [f"- `{run_name}` (row {index}): {status}" for run_name, index, status in missing]
  return "\n".join(lines) + "\n"


def _test_text(cells: pd.DataFrame) -> str:
  used = sorted(set(cells["test"]) - {""})
  names = {"bootstrap": "paired bootstrap over test examples",
           "randomization": "approximate randomisation over test examples",
           "welch": "Welch's t over seeds"}
  return " / ".join(names[t] for t in used)


def _tex_escape(text: str) -> str:
  table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
           "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
           "^": r"\textasciicircum{}", MISSING: "--"}
  return "".join(table.get(ch, ch) for ch in str(text))


def to_latex(name: str, frame: pd.DataFrame, cells: pd.DataFrame, table: sweep_lib.Table) -> str:
  rows, cols, grid = _grid(cells, table)
  header = _header(table, cols)
  spec = "l" * len(table.rows) + "r" * (len(header) - len(table.rows))
  lines = [f"% {table.title or name}: {metrics_text(table)}, mean $\\pm$ std over seeds "
           "[95% interval of the mean] (n); $^\\dagger$: not significantly worse than the "
           f"column's best ({name}.about.md).",
           "% Written by `bilstm-sweep table`; edit the sweep file, not this file.",
           f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
  best = {c: _best(grid, rows, c, table) for c in cols}
  for r in rows:
    out = [_tex_escape(v) for v in r]
    if table.sort_by:
      out.append(_tex_escape(_sort_text(grid[(r, cols[0])], table)))
    for c in cols:
      if (r, c) not in grid:
        out.append("")
        continue
      cell = grid[(r, c)]
      if cell["planned"] == 0:
        out.append(_tex_escape(cell["alias"]))
        continue
      bold = _bold(cell, best[c], table, lambda t: f"\\mathbf{{{t}}}")
      value, _, count = _fmt_cell(cell, table.digits, bold, r" \pm ").rpartition(" ")
      interval = ""
      if not pd.isna(cell.get("ci_lo", math.nan)):
        interval = f" [{cell['ci_lo']:.{table.digits}f}, {cell['ci_hi']:.{table.digits}f}]"
      out.append(f"${value}${interval} {count}" if cell["n"] > 0 else f"-- {count}")
    lines.append(" & ".join(out) + r" \\")
  lines += [r"\bottomrule", r"\end{tabular}"]
  lines += [f"% {note}" for note in _alias_notes(frame)]
  missing = _not_in_table(frame)
  if missing:
    # Visible in the PDF on purpose: an incomplete table must not pass for a final one.
    lines += [r"\par\smallskip{\footnotesize Not in the table: "
              + "; ".join(_tex_escape(m[0]) for m in missing) + ".}"]
    lines += [f"% not in the table: {run_name} (row {index}): {status}"
              for run_name, index, status in missing]
  return "\n".join(lines) + "\n"


def write_tables(name: str, table: sweep_lib.Table, runs: list[plan.Run], tables_dir: str,
                 status: Callable[[plan.Run], str] = default_status,
                 commands: list[str] | None = None,
                 test: str = table_significance.DEFAULT_TEST,
                 alpha: float = table_significance.DEFAULT_ALPHA,
                 results_of: Callable[[plan.Run], dict | None] | None = None):
  """Writes <tables_dir>/<name>.{md,tex,png}, and with `commands` (those that rebuild the table)
  <name>.{runs.csv,about.md} (table_provenance.py), each atomically (files.py); returns (paths,
  the Markdown, the cells). Each column's rows are tested against its best row (`test`,
  `alpha`: table_significance.py) and marked † where not significantly worse."""
  code = provenance.git_commit() if commands is not None else None  # before any file changes
  frame = collect(runs, table, status, results_of)
  cells = table_significance.annotate(frame, aggregate(frame, table), table, test, alpha)
  cells.attrs["alpha"] = alpha
  base = os.path.join(tables_dir, name)
  markdown = to_markdown(name, frame, cells, table)
  files.atomic_write_text(base + ".md", markdown)
  files.atomic_write_text(base + ".tex", to_latex(name, frame, cells, table))
  table_plot.plot(name, cells, _grid, table, base + ".png")
  paths = [base + ".md", base + ".tex", base + ".png"]
  if commands is not None:
    paths += table_provenance.write_provenance(
        base, name, per_run(frame, table), runs, commands, list(table.metrics) or ["value"],
        table_significance.report_lines(cells, table, test, alpha), code)
  return paths, markdown, cells
