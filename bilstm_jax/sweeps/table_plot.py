"""A sweep table's plot: its cells as points with std-over-seeds error bars, written as PNG."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt
import pandas as pd

from bilstm_jax import files
from bilstm_jax.sweeps import spec as sweep_lib

_UNITS_KEY = "model.units"


def short_key(key: str) -> str:
  """'model.merge' -> 'merge'."""
  return key.rsplit(".", 1)[-1]


def col_name(col: tuple, table: sweep_lib.Table) -> str:
  """A column's header: its keys' values ('units=64, num_layers=2'), or the metric."""
  if not table.cols:
    return table.metric
  return ", ".join(f"{short_key(k)}={v}" for k, v in zip(table.cols, col))


def _by_numeric(ax, done: pd.DataFrame, keys: list[str], x_key: str) -> None:
  """Metric vs a numeric key (units, a training fraction), one line per combination of the
  other keys; a key that spans more than a factor of 8 gets a log axis."""
  others = [k for k in keys if k != x_key]
  groups = done.groupby(others, sort=False) if others else [((), done)]
  for label, group in groups:
    label = label if isinstance(label, tuple) else (label,)
    group = group.assign(x=pd.to_numeric(group[x_key], errors="coerce")).sort_values("x")
    ax.errorbar(group["x"], group["mean"], yerr=group["std"].fillna(0.0), marker="o",
                capsize=3, label=", ".join(f"{short_key(k)}={v}" for k, v in zip(others, label)))
  xs = pd.to_numeric(done[x_key], errors="coerce")
  if xs.min() > 0 and xs.max() / xs.min() > 8:
    ax.set_xscale("log", base=2)
  ax.set_xlabel(short_key(x_key))
  if others:
    ax.legend(fontsize=8)


def _by_row(ax, name: str, rows, cols, grid, table: sweep_lib.Table) -> None:
  """One point per table row, one series per column."""
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
                label=col_name(col, table) if table.cols else None)
  ax.set_xticks(range(len(rows)), [", ".join(map(str, r)) or name for r in rows],
                rotation=30 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center",
                fontsize=8)
  ax.set_xlim(-0.5, len(rows) - 0.5)
  ax.set_xlabel(", ".join(short_key(k) for k in table.rows))
  if table.cols:
    ax.legend(fontsize=8)


def plot(name: str, cells: pd.DataFrame, grid_of, table: sweep_lib.Table, path: str) -> None:
  """With `sort_by`: the metric against the sort metric, one point per row (does the pick's
  metric predict the reported one?). Else metric vs `plot_x`, or vs units when units takes
  several values (one line per other key combination), or one point per table row and one series
  per column. Error bars: std over seeds. The y axis spans the data (not 0), so differences of
  a point stay visible. `grid_of(cells)` is tables._grid."""
  fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
  keys = list(table.rows + table.cols)
  cells = cells[cells["planned"] > 0]  # a row that repeats another has no point of its own
  done = cells[cells["n"] > 0]
  if table.sort_by:
    ax.errorbar(done["sort"], done["mean"], yerr=done["std"].fillna(0.0), marker="o",
                linestyle="none", capsize=3)
    ax.set_xlabel(f"{table.sort_by} (mean over seeds)")
  elif table.plot_x:
    _by_numeric(ax, done, keys, table.plot_x)
  elif _UNITS_KEY in keys and done[_UNITS_KEY].nunique() > 1:
    _by_numeric(ax, done, keys, _UNITS_KEY)
  else:
    _by_row(ax, name, *grid_of(cells, table), table)
  ax.set_ylabel(", ".join(table.all_metrics))
  ax.set_title("\n".join(textwrap.wrap(table.title or name, 90)), fontsize=10)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  with files.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png")
  plt.close(fig)
