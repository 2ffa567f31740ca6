"""Sweeps as data: product/zipped/chain over (dotted key, values) axes, the table spec.

A sweep file `experiments/<name>.py` defines `get_sweep()` returning a `Sweep` (how the file is
found and imported, and its named grids: files.py):

  from bilstm_jax.sweeps import spec as sweep
  def get_sweep():
    return sweep.Sweep(
        config="configs/synthetic.py",
        rows=sweep.product(("model.merge", ["concat", "sum"]), ("model.num_layers", [1, 2]),
                           sweep.seeds(3)),
        table=sweep.Table(metric="test/accuracy", rows=("model.merge",),
                          cols=("model.num_layers",)))

Each row is a dict of dotted overrides (including `seed`); its config is
`load_config(sweep.config)` plus `apply_overrides(row)`. Its run name is built from the keys
that vary across the sweep (`merge=sum,num_layers=2,seed=1`) and its run directory is
`<sweep-dir>/<sweep name>/<run name>`. A row whose config trains the very model of another row
(aliases.py: merge 'none' is 'concat' for every head) stays in the table as `= concat` and is
never run.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence
from typing import Any

from bilstm_jax import config as config_lib
from bilstm_jax.config import ConfigError

SEED_KEY = "seed"


# --- Building rows -------------------------------------------------------------------------

def _rows(axis) -> list[dict]:
  """An axis is ("dotted.key", [values]) or an already expanded list of row dicts."""
  if isinstance(axis, tuple) and len(axis) == 2 and isinstance(axis[0], str):
    key, values = axis
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
      raise TypeError(f"axis {key!r}: values must be a list, got {values!r}")
    if not values:
      raise ValueError(f"axis {key!r} has no values")
    return [{key: value} for value in values]
  if isinstance(axis, list) and all(isinstance(row, dict) for row in axis):
    return [dict(row) for row in axis]
  raise TypeError(f"an axis is (\"dotted.key\", [values]) or a list of row dicts; got {axis!r}")


def _merge(*parts: dict) -> dict:
  row = {}
  for part in parts:
    clash = set(row) & set(part)
    if clash:
      raise ValueError(f"key(s) {sorted(clash)} set by two axes")
    row.update(part)
  return row


def product(*axes) -> list[dict]:
  """Cartesian product; the last axis varies fastest (put seeds last)."""
  return [_merge(*combo) for combo in itertools.product(*(_rows(axis) for axis in axes))]


def zipped(*axes) -> list[dict]:
  """Axes of equal length walked together: zipped(("a", [1, 2]), ("b", [3, 4])) -> 2 rows."""
  expanded = [_rows(axis) for axis in axes]
  lengths = {len(rows) for rows in expanded}
  if len(lengths) > 1:
    raise ValueError(f"zipped axes differ in length: {[len(rows) for rows in expanded]}")
  return [_merge(*combo) for combo in zip(*expanded)]


def chain(*sweeps) -> list[dict]:
  """Row lists one after the other (e.g. forward-only rows, then bidirectional ones)."""
  return [row for rows in sweeps for row in _rows(rows)]


def seeds(n: int, start: int = 0) -> tuple[str, list[int]]:
  """The seed axis: ("seed", [start, ..., start + n - 1]); make it the innermost axis."""
  return (SEED_KEY, list(range(start, start + n)))


# --- Sweep and table spec -------------------------------------------------------------------

def pick_grid(grids: dict[str, Any], name: str) -> Any:
  """grids[name] for `get_sweep(grid)`; an unknown name lists the allowed ones."""
  if name not in grids:
    raise ValueError(f"unknown grid {name!r}; allowed: {', '.join(grids)}")
  return grids[name]


# The column key whose values are a table's metrics (Table.metrics).
METRIC_KEY = "metric"


@dataclasses.dataclass(frozen=True)
class Table:
  """How a sweep becomes a table: one metric, row keys x column keys, seeds aggregated; the
  best cell per column is bold, by the metric's direction (metric_direction.py)."""
  metric: str = "test/accuracy"
  rows: tuple[str, ...] = ()  # dotted keys whose values label table rows
  cols: tuple[str, ...] = ()  # dotted keys whose values label columns; () = one column
  digits: int = 4
  title: str = ""
  # A search's table: this metric's seed mean (e.g. "val/accuracy") gets its own column and
  # orders the rows, best first, so the pick is made on it and `metric` (test) is only read.
  sort_by: str = ""
  # Several metrics of the same runs side by side (e.g. greedy and beam-search error rates):
  # each is a value of the column key METRIC_KEY, which `cols` must then hold; `metric` is
  # ignored. The best cell is bold per column, by that column's metric.
  metrics: tuple[str, ...] = ()
  # The plot's numeric x axis (a row or column key, e.g. "data.train_fraction" for a learning
  # curve): the metric against it, one line per combination of the other keys. "" plots
  # against model.units when it varies, else one point per row.
  plot_x: str = ""

  def __post_init__(self):
    object.__setattr__(self, "rows", tuple(self.rows))
    object.__setattr__(self, "cols", tuple(self.cols))
    object.__setattr__(self, "metrics", tuple(self.metrics))
    both = set(self.rows) & set(self.cols)
    if both or SEED_KEY in self.rows + self.cols:
      raise ValueError(f"table keys must be distinct and never {SEED_KEY!r}: rows={self.rows} "
                       f"cols={self.cols}")
    if bool(self.metrics) != (METRIC_KEY in self.cols) or METRIC_KEY in self.rows:
      raise ValueError(f"a table of several metrics puts {METRIC_KEY!r} in cols, and only "
                       f"then: metrics={self.metrics} rows={self.rows} cols={self.cols}")
    if self.metrics:
      object.__setattr__(self, "metric", self.metrics[0])
    if self.plot_x and self.plot_x not in self.rows + self.cols:
      raise ValueError(f"plot_x={self.plot_x!r} must be one of the table's keys: "
                       f"rows={self.rows} cols={self.cols}")
    if self.sort_by and self.cols:
      raise ValueError(f"sort_by={self.sort_by!r} orders the rows of a one-column table; "
                       f"drop cols={self.cols}")

  @property
  def all_metrics(self) -> tuple[str, ...]:
    return self.metrics or (self.metric,)


@dataclasses.dataclass(frozen=True)
class Sweep:
  config: str  # "configs/synthetic.py" or "configs/synthetic.py:smoke"
  rows: list[dict]
  table: Table = Table()

  def __post_init__(self):
    if not self.rows:
      raise ValueError("a sweep needs at least one row")
    for i, row in enumerate(self.rows):
      if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise TypeError(f"row {i} must be a dict of dotted keys, got {row!r}")
    check_seed_innermost(self.rows)


def as_sweep(obj) -> Sweep:
  """A Sweep, or a dict {"config": ..., "rows": [...], "table": {...}} from get_sweep()."""
  if isinstance(obj, Sweep):
    return obj
  if isinstance(obj, dict) and {"config", "rows"} <= set(obj):
    table = obj.get("table", Table())
    return Sweep(obj["config"], list(obj["rows"]),
                 table if isinstance(table, Table) else Table(**table))
  raise TypeError("get_sweep() must return sweep.Sweep(config=..., rows=..., table=...) or a dict "
                  f"with those keys; got {type(obj).__name__}")


def check_seed_innermost(rows: list[dict]) -> None:
  """Rows that differ only in their seed must be adjacent (seeds are the innermost axis)."""
  seen, previous = set(), None
  for i, row in enumerate(rows):
    group = json.dumps({k: v for k, v in row.items() if k != SEED_KEY}, sort_keys=True,
                       default=str)
    if group != previous and group in seen:
      raise ValueError(f"row {i} {row} repeats an earlier setting after other rows: make "
                       f"{SEED_KEY!r} the innermost (last) axis")
    seen.add(group)
    previous = group


# --- Settings and each row's config ---------------------------------------------

def with_settings(spec: Sweep, settings: dict) -> Sweep:
  """Every row plus `settings` (bilstm-sweep --set KEY=VALUE: where this machine keeps the data,
  say); a key the sweep itself sets is an error, never silently replaced."""
  for key in settings:
    if any(key in row for row in spec.rows):
      raise ConfigError(f"--set {key}=...: the sweep already sets {key!r} in its rows")
  return dataclasses.replace(spec, rows=[{**row, **settings} for row in spec.rows])


def build_config(spec: str, overrides: dict, where: str = ""):
  """load_config(spec) + apply_overrides(overrides); a mistake names the row (`where`)."""
  try:
    config = config_lib.load_config(spec)
    config_lib.apply_overrides(config, overrides)
  except ConfigError as err:
    raise ConfigError(f"{where}: {err}" if where else str(err)) from None
  return config
