"""A sweep's table from its run directories: Markdown, LaTeX (booktabs) and a PNG plot.

The local results.json files are the truth (W&B is only for watching). Each cell is the
sweep's metric aggregated over seeds as `mean ± std (n)`; a cell with fewer finished seeds than
planned shows `(n/planned)`, and every run not in the table is listed under it with its status.
"""

from __future__ import annotations

import math
import os
import textwrap
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bilstm_jax.sweeps import spec as sweep_lib
from bilstm_jax.sweeps import table_provenance
from bilstm_jax.training import run_files  # noqa: E402

MISSING = "–"
_UNITS_KEY = "model.units"


def _label(run: sweep_lib.Run, key: str) -> str:
  return sweep_lib.format_value(run.overrides[key]) if key in run.overrides else MISSING


def default_status(run: sweep_lib.Run) -> str:
  return "done" if sweep_lib.is_finished(run) else "not finished"


def collect(runs: list[sweep_lib.Run], table: sweep_lib.Table,
            status: Callable[[sweep_lib.Run], str] = default_status) -> pd.DataFrame:
  """One row per planned run: its table labels, seed, status and metric value (NaN if none),
  and from its results.json the wall time, commit, machine and when it was written (for the
  provenance files)."""
  records = []
  for run in runs:
    results = run_files.read_results(run.workdir)
    saved = results or {}
    path = os.path.join(run.workdir, run_files.RESULTS_FILE)
    state = status(run)
    value = math.nan
    if results is not None:
      if isinstance(results.get(table.metric), (int, float)):
        value = float(results[table.metric])
        state = "done"
      else:
        state = f"results.json has no {table.metric!r}"
    records.append({
        "index": run.index, "run_name": run.run_name, "workdir": run.workdir,
        "seed": run.overrides.get(sweep_lib.SEED_KEY), "status": state, "value": value,
        **{key: _label(run, key) for key in table.rows + table.cols},
        "wall_time_s": saved.get("wall_time_s"),
        "finished_at": os.path.getmtime(path) if results is not None else None,
        "git_commit": saved.get("git_commit"),
        "machine": saved.get("machine")})
  return pd.DataFrame.from_records(records)


def aggregate(frame: pd.DataFrame, table: sweep_lib.Table) -> pd.DataFrame:
  """One row per (row labels, column labels) cell: mean, std (ddof=1), n done, n planned."""
  keys = list(table.rows + table.cols)
  grouped = frame.groupby(keys, sort=False) if keys else frame.groupby(lambda _: "all")
  cells = grouped["value"].agg(mean="mean", std="std", n="count", planned="size").reset_index()
  if not keys:
    cells = cells.drop(columns="index")
  return cells


def _fmt_cell(cell, digits: int, bold: Callable[[str], str] | None, pm: str) -> str:
  n, planned = int(cell["n"]), int(cell["planned"])
  count = f"({n})" if n == planned else f"({n}/{planned})"
  if n == 0:
    return f"{MISSING} {count}"
  text = f"{cell['mean']:.{digits}f}"
  if n > 1:
    text += f"{pm}{cell['std']:.{digits}f}"
  return f"{bold(text) if bold else text} {count}"


def _grid(cells: pd.DataFrame, table: sweep_lib.Table):
  """(row label tuples, column label tuples, {(row, col): cell}) in sweep order."""
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
  """The rounded best mean in a column (ties all bold), or None if the column is empty."""
  means = [round(grid[(r, col)]["mean"], table.digits) for r in rows
           if (r, col) in grid and grid[(r, col)]["n"] > 0]
  if not means:
    return None
  return max(means) if table.higher_is_better else min(means)


def _short(key: str) -> str:
  return key.rsplit(".", 1)[-1]


def _col_name(col: tuple, table: sweep_lib.Table) -> str:
  if not table.cols:
    return table.metric
  return ", ".join(f"{_short(k)}={v}" for k, v in zip(table.cols, col))


def _not_in_table(frame: pd.DataFrame) -> list[tuple[str, int, str]]:
  """(run name, row index, status) of every planned run without a value in the table."""
  rows = frame[frame["status"] != "done"]
  return [(r.run_name, r.index, r.status) for r in rows.itertuples()]


def to_markdown(name: str, frame: pd.DataFrame, cells: pd.DataFrame,
                table: sweep_lib.Table) -> str:
  rows, cols, grid = _grid(cells, table)
  header = [_short(k) for k in table.rows] + [_col_name(c, table) for c in cols]
  lines = [f"# {table.title or name}", "",
           "| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] * len(table.rows) + ["---:"] * len(cols)) + "|"]
  best = {c: _best(grid, rows, c, table) for c in cols}
  for r in rows:
    out = list(r)
    for c in cols:
      if (r, c) not in grid:
        out.append("")
        continue
      cell = grid[(r, c)]
      is_best = cell["n"] > 0 and round(cell["mean"], table.digits) == best[c]
      out.append(_fmt_cell(cell, table.digits, (lambda t: f"**{t}**") if is_best else None,
                           " ± "))
    lines.append("| " + " | ".join(out) + " |")
  done = int((frame["status"] == "done").sum())
  lines += ["", f"{table.metric}: mean ± std over seeds (n runs; n/planned where runs are "
            f"missing); bold: best per column. {done} of {len(frame)} runs done."]
  missing = _not_in_table(frame)
  if missing:
    lines += ["", f"Not in the table ({len(missing)} runs):", ""]
    lines += [f"- `{run_name}` (row {index}): {status}" for run_name, index, status in missing]
  return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
  table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
           "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
           "^": r"\textasciicircum{}", MISSING: "--"}
  return "".join(table.get(ch, ch) for ch in str(text))


def to_latex(name: str, frame: pd.DataFrame, cells: pd.DataFrame, table: sweep_lib.Table) -> str:
  rows, cols, grid = _grid(cells, table)
  best = {c: _best(grid, rows, c, table) for c in cols}
  spec = "l" * len(table.rows) + "r" * len(cols)
  header = [_short(k) for k in table.rows] + [_col_name(c, table) for c in cols]
  lines = [f"% {table.title or name}: {table.metric}, mean $\\pm$ std over seeds (n).",
           "% Written by `bilstm-sweep table`; edit the sweep file, not this file.",
           f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(_tex_escape(h) for h in header) + r" \\", r"\midrule"]
  for r in rows:
    out = [_tex_escape(v) for v in r]
    for c in cols:
      if (r, c) not in grid:
        out.append("")
        continue
      cell = grid[(r, c)]
      is_best = cell["n"] > 0 and round(cell["mean"], table.digits) == best[c]
      text = _fmt_cell(cell, table.digits, (lambda t: f"\\mathbf{{{t}}}") if is_best else None,
                       r" \pm ")
      value, _, count = text.rpartition(" ")
      out.append(f"${value}$ {count}" if cell["n"] > 0 else f"-- {count}")
    lines.append(" & ".join(out) + r" \\")
  lines += [r"\bottomrule", r"\end{tabular}"]
  missing = _not_in_table(frame)
  if missing:
    # Visible in the PDF on purpose: an incomplete table must not pass for a final one.
    lines += [r"\par\smallskip{\footnotesize Not in the table: "
              + "; ".join(_tex_escape(m[0]) for m in missing) + ".}"]
    lines += [f"% not in the table: {run_name} (row {index}): {status}"
              for run_name, index, status in missing]
  return "\n".join(lines) + "\n"


def plot(name: str, cells: pd.DataFrame, table: sweep_lib.Table, path: str) -> None:
  """Metric vs units (one line per other key combination) when units takes several values;
  otherwise one point per table row, one series per column. Error bars: std over seeds. The
  y axis spans the data (not 0), so differences of a point stay visible."""
  fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
  keys = list(table.rows + table.cols)
  done = cells[cells["n"] > 0]
  if _UNITS_KEY in keys and done[_UNITS_KEY].nunique() > 1:
    others = [k for k in keys if k != _UNITS_KEY]
    groups = done.groupby(others, sort=False) if others else [((), done)]
    for label, group in groups:
      label = label if isinstance(label, tuple) else (label,)
      group = group.assign(x=pd.to_numeric(group[_UNITS_KEY], errors="coerce")).sort_values("x")
      ax.errorbar(group["x"], group["mean"], yerr=group["std"].fillna(0.0), marker="o",
                  capsize=3, label=", ".join(f"{_short(k)}={v}" for k, v in zip(others, label)))
    ax.set_xlabel("units")
    if others:
      ax.legend(fontsize=8)
  else:
    rows, cols, grid = _grid(cells, table)
    width = 0.6 / max(len(cols), 1)
    for j, col in enumerate(cols):
      xs, means, stds = [], [], []
      for i, row in enumerate(rows):
        cell = grid.get((row, col))
        if cell is None or cell["n"] == 0:
          continue
        x = i + (j - (len(cols) - 1) / 2) * width
        xs.append(x)
        means.append(cell["mean"])
        stds.append(0.0 if pd.isna(cell["std"]) else cell["std"])
        if cell["n"] < cell["planned"]:  # an incomplete cell says so on the plot too
          ax.annotate(f"n={cell['n']}/{cell['planned']}", (x, cell["mean"]), fontsize=7,
                      ha="center", va="bottom")
      ax.errorbar(xs, means, yerr=stds, marker="o", linestyle="none", capsize=3,
                  label=_col_name(col, table) if table.cols else None)
    ax.set_xticks(range(len(rows)), [", ".join(map(str, r)) or name for r in rows],
                  rotation=30 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center",
                  fontsize=8)
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_xlabel(", ".join(_short(k) for k in table.rows))
    if table.cols:
      ax.legend(fontsize=8)
  ax.set_ylabel(table.metric)
  ax.set_title("\n".join(textwrap.wrap(table.title or name, 90)), fontsize=10)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def write_tables(name: str, table: sweep_lib.Table, runs: list[sweep_lib.Run], tables_dir: str,
                 status: Callable[[sweep_lib.Run], str] = default_status,
                 commands: list[str] | None = None):
  """Writes <tables_dir>/<name>.{md,tex,png}, and with `commands` (those that rebuild the table)
  <name>.{runs.csv,about.md} (table_provenance.py); returns (paths, the Markdown, the cells)."""
  frame = collect(runs, table, status)
  cells = aggregate(frame, table)
  os.makedirs(tables_dir, exist_ok=True)
  base = os.path.join(tables_dir, name)
  markdown = to_markdown(name, frame, cells, table)
  with open(base + ".md", "w") as f:
    f.write(markdown)
  with open(base + ".tex", "w") as f:
    f.write(to_latex(name, frame, cells, table))
  plot(name, cells, table, base + ".png")
  paths = [base + ".md", base + ".tex", base + ".png"]
  if commands is not None:
    paths += table_provenance.write_provenance(base, name, frame, runs, commands)
  return paths, markdown, cells
