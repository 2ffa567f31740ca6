"""A sweep's plan: each row expanded to a Run (name, config, workdir), the manifest file
(runs/<sweep>/sweep.jsonl) and the bilstm-train arguments of a run."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from bilstm_jax import config as config_lib
from bilstm_jax import files
from bilstm_jax.config import ConfigError
from bilstm_jax.sweeps import aliases
from bilstm_jax.sweeps.naming import run_names, run_tags, varied_keys
from bilstm_jax.sweeps.spec import Sweep, build_config
from bilstm_jax.training import run_files

MANIFEST = "sweep.jsonl"


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
