"""The run directory's small files: config.json, results.json, and what identifies a run."""

from __future__ import annotations

import json
import os
import shlex
import sys

from bilstm_jax import provenance as provenance_lib
from bilstm_jax.config import ConfigError
from bilstm_jax.files import atomic_write_json

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"

# Keys that may change between launches of the same run without changing its result.
_RELAUNCH_SAFE_PREFIXES = ("wandb.",)


def flat_config(config) -> dict:
  """{'model.units': 64, ...} from a ConfigDict."""
  flat = {}

  def visit(prefix, node):
    for key, value in node.items():
      if hasattr(value, "items"):
        visit(f"{prefix}{key}.", value)
      else:
        flat[prefix + key] = list(value) if isinstance(value, tuple) else value

  visit("", config)
  return flat


def config_changes(workdir: str, current: dict, defaults: dict | None = None) -> list[str]:
  """'key: saved -> current' for each setting of the flat config `current` (flat_config) that
  differs from the run saved in workdir (settings that may change on a relaunch excepted);
  [] when workdir holds no config.json.

  defaults: a flat config of unchanged defaults. A key the saved run lacks but that sits at
  its default here was added to the code after the run was made, so it is not a change.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    saved = json.load(f)
  added_since = {k for k in set(current) - set(saved)
                 if defaults is not None and k in defaults and current[k] == defaults[k]}
  return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}"
          for k in sorted((set(saved) | set(current)) - added_since)
          if saved.get(k) != current.get(k) and not k.startswith(_RELAUNCH_SAFE_PREFIXES)]


def write_or_check_config(workdir: str, config, defaults: dict | None = None) -> None:
  """Writes config.json, or checks a relaunch uses the same config as the run in workdir.

  defaults: as for config_changes (a run saved before a key existed may resume).
  """
  path = os.path.join(workdir, CONFIG_FILE)
  current = flat_config(config)
  changes = config_changes(workdir, current, defaults)
  if changes:
    raise ConfigError(f"{path} holds a run with a different config ({'; '.join(changes)}); use "
                      "a new --workdir, or the original config to resume it")
  atomic_write_json(path, current)


def read_results(workdir: str) -> dict | None:
  path = os.path.join(workdir, RESULTS_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_results(workdir: str, results: dict) -> None:
  atomic_write_json(os.path.join(workdir, RESULTS_FILE), results)


SLURM_IDS = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT",
             "SLURM_JOB_NODELIST")


def slurm_ids() -> dict:
  """The SLURM job, array task, restart count and node of this process (empty outside SLURM)."""
  return {k: os.environ[k] for k in SLURM_IDS if k in os.environ}


def provenance() -> dict:
  """Git commit (and dirty flag), machine, command line and SLURM ids, for results.json and W&B."""
  # As the user would type it: `python -m bilstm_jax.training.cli` (what sweeps run) has the
  # module's path in argv[0].
  return {**provenance_lib.provenance(), "command": shlex.join(["bilstm-train", *sys.argv[1:]]),
          "slurm": slurm_ids()}
