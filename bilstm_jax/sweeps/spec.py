"""Sweeps as data: product/zipped/chain over (dotted key, values) axes, run names, the manifest.

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
import hashlib
import itertools
import json
import os
import re
from typing import Any, Sequence

from bilstm_jax import config as config_lib
from bilstm_jax import files
from bilstm_jax.config import ConfigError
from bilstm_jax.sweeps import aliases
from bilstm_jax.training import run_files

SEED_KEY = "seed"
MANIFEST = "sweep.jsonl"
_MAX_NAME_CHARS = 150


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

  def __post_init__(self):
    object.__setattr__(self, "rows", tuple(self.rows))
    object.__setattr__(self, "cols", tuple(self.cols))
    both = set(self.rows) & set(self.cols)
    if both or SEED_KEY in self.rows + self.cols:
      raise ValueError(f"table keys must be distinct and never {SEED_KEY!r}: rows={self.rows} "
                       f"cols={self.cols}")
    if self.sort_by and self.cols:
      raise ValueError(f"sort_by={self.sort_by!r} orders the rows of a one-column table; "
                       f"drop cols={self.cols}")


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


# --- Run names ------------------------------------------------------------------------------

def sanitize(name: str) -> str:
  """A safe single path component: no '/', no '..', no leading '.' or '-', [A-Za-z0-9._=,+-]."""
  safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
  safe = re.sub(r"\.{2,}", "_", safe)
  safe = re.sub(r"^[.-]", "_", safe)
  if len(safe) > _MAX_NAME_CHARS:
    # Cut from the middle, keeping a short last part (the seed) after a digest of the rest:
    # the seeds of one setting share the digest and stay told apart.
    last = safe[safe.rfind(","):] if 0 < len(safe) - safe.rfind(",") <= 24 else ""
    rest = name[:name.rfind(",")] if last else name
    digest = hashlib.sha256(rest.encode()).hexdigest()[:8]
    safe = f"{safe[:_MAX_NAME_CHARS - 9 - len(last)]}-{digest}{last}"
  return safe or "run"


def format_value(value) -> str:
  if isinstance(value, float):
    return f"{value:g}"
  if isinstance(value, (list, tuple)):
    return "+".join(format_value(v) for v in value)
  return str(value)


def varied_keys(rows: list[dict]) -> list[str]:
  """Keys whose value differs between rows (or that some rows leave out); seed last."""
  keys = list(dict.fromkeys(k for row in rows for k in row))
  varied = [k for k in keys
            if len({json.dumps(row.get(k, "\0missing"), default=str) for row in rows}) > 1]
  return [k for k in varied if k != SEED_KEY] + [k for k in varied if k == SEED_KEY]


def _short_names(keys: list[str]) -> dict[str, str]:
  """'model.merge' -> 'merge', unless two varied keys share a last part (then the full key)."""
  last = [k.rsplit(".", 1)[-1] for k in keys]
  return {k: (short if last.count(short) == 1 else k) for k, short in zip(keys, last)}


def run_names(rows: list[dict]) -> list[str]:
  """Deterministic readable names from the varied keys, unique within the sweep."""
  keys = varied_keys(rows)
  short = _short_names(keys)
  names = [sanitize(",".join(f"{short[k]}={format_value(row[k])}" for k in keys if k in row))
           for row in rows]
  counts = {}
  for name in names:
    counts[name] = counts.get(name, 0) + 1
  for i, (name, row) in enumerate(zip(names, rows)):
    if counts[name] > 1:  # only when sanitising merged two values; keep both, told apart
      digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
      names[i] = sanitize(f"{name}-{digest[:8]}")
  if len(set(names)) != len(names):
    dupes = sorted({n for n in names if names.count(n) > 1})
    raise ValueError(f"rows repeat the same overrides: {dupes}")
  return names


def run_tags(row: dict, keys: list[str]) -> tuple[str, ...]:
  """W&B tags for a row: its varied keys other than the seed, as `short=value`."""
  short = _short_names(keys)
  return tuple(f"{short[k]}={format_value(row[k])}" for k in keys if k in row and k != SEED_KEY)


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


# --- Runs and the manifest ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
  index: int
  run_name: str
  config: str
  overrides: dict
  workdir: str
  tags: tuple[str, ...] = ()
  # Set when the row's config trains the very model of another row (aliases.py): that row's
  # run name, and why. Such a row is never run (nor in the manifest); its table cell says so.
  same_as: str = ""
  same_note: str = ""

  def to_json(self) -> dict:
    return {"index": self.index, "run_name": self.run_name, "config": self.config,
            "overrides": self.overrides, "workdir": self.workdir, "tags": list(self.tags)}


def expand(sweep: Sweep, name: str, sweep_dir: str = "runs", check: bool = True) -> list[Run]:
  """Every row of the sweep as a Run, in order; `index` is the row's place in the sweep. A row
  that repeats another row's model (aliases.py) gets `same_as` and is never run. With
  check=True each row's config must match the config of any run already in its directory."""
  names = run_names(sweep.rows)
  keys = varied_keys(sweep.rows)
  root = os.path.join(sweep_dir, name)
  defaults = run_files.flat_config(config_lib.load_config(sweep.config)) if check else None
  wheres = [f"sweep {name!r} row {i} ({run_name})" for i, run_name in enumerate(names)]
  flats = [run_files.flat_config(build_config(sweep.config, row, where=where))
           for row, where in zip(sweep.rows, wheres)]
  repeats = aliases.find(flats)
  runs = []
  for i, (row, run_name, flat) in enumerate(zip(sweep.rows, names, flats)):
    workdir = os.path.join(root, run_name)
    # Defence in depth: sanitize() already guarantees a single path component.
    if os.path.dirname(os.path.abspath(workdir)) != os.path.abspath(root):
      raise ValueError(f"run name {run_name!r} escapes {root}")
    same_as, note = (names[repeats[i][0]], repeats[i][1]) if i in repeats else ("", "")
    if check and not same_as:
      changes = run_files.config_changes(workdir, flat, defaults)
      if changes:
        # A finished run there would be skipped and tabled as this row: the same sweep file
        # with another --set data.source_dir (another corpus) must not reuse its results.
        raise ConfigError(f"{wheres[i]}: {workdir} holds a run with a different config "
                          f"({'; '.join(changes)}); give this sweep its own --sweep-dir, or "
                          "remove that run directory")
    runs.append(Run(i, run_name, sweep.config, _jsonable(row), workdir, run_tags(row, keys),
                    same_as, note))
  return runs


def to_run(runs: list[Run]) -> list[Run]:
  """The runs that train something: all but those that repeat another row's model."""
  return [run for run in runs if not run.same_as]


def _jsonable(row: dict) -> dict:
  return {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}


def manifest_text(runs: list[Run]) -> str:
  return "".join(json.dumps(run.to_json(), sort_keys=True) + "\n" for run in runs)


def write_manifest(path: str, runs: list[Run]) -> None:
  files.atomic_write_text(path, manifest_text(runs))


def read_manifest(path: str) -> list[Run]:
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return [Run(r["index"], r["run_name"], r["config"], r["overrides"], r["workdir"],
              tuple(r.get("tags", ()))) for r in rows]


def manifest_row(path: str, index: int) -> Run:
  """The run of sweep row `index` (rows that repeat another row are not in the manifest)."""
  runs = {run.index: run for run in read_manifest(path)}
  if index not in runs:
    raise ConfigError(f"{path} has rows {compress_indices(sorted(runs))}; no row {index}")
  return runs[index]


def is_finished(run: Run) -> bool:
  return run_files.read_results(run.workdir) is not None


def unfinished(runs: list[Run]) -> list[Run]:
  """The rows still to run: those without results.json (a started one resumes)."""
  return [run for run in to_run(runs) if not is_finished(run)]


def flag_value(key: str, value: Any) -> str:
  """A typed override as ml_collections' config flag parser reads it back."""
  if value is None:
    raise ConfigError(f"config key {key!r}: None cannot be passed on the command line; set it "
                      "in the config file (or a :variant) instead")
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, (list, tuple)):
    return repr(tuple(value))
  return repr(value) if isinstance(value, float) else str(value)


def train_args(run: Run, sweep: str, wandb_mode: str | None = None) -> list[str]:
  """bilstm-train's arguments for a run; W&B group/name/tags follow STYLE.md."""
  overrides = dict(run.overrides)
  overrides.setdefault("wandb.group", sweep)
  overrides.setdefault("wandb.name", run.run_name)
  if run.tags:
    overrides.setdefault("wandb.tags", list(run.tags))
  if wandb_mode:
    overrides.setdefault("wandb.mode", wandb_mode)
  return ["--config", run.config, "--workdir", run.workdir] + [
      f"--config.{key}={flag_value(key, value)}" for key, value in overrides.items()]


def compress_indices(indices: list[int]) -> str:
  """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (sbatch --array syntax)."""
  parts, start = [], None
  for i, index in enumerate(indices):
    if start is None:
      start = index
    if i + 1 == len(indices) or indices[i + 1] != index + 1:
      parts.append(str(start) if start == index else f"{start}-{index}")
      start = None
  return ",".join(parts)
