"""Sweep files: `experiments/<name>.py[:<grid>]` -> its run-directory name and its Sweep.

A sweep file defines `get_sweep()`. It may take one argument, a named grid with a default
(`def get_sweep(grid="cpu")`): `bilstm-sweep run experiments/fsdd.py:paper` then calls
get_sweep("paper"), and its runs go to `<sweep-dir>/fsdd_paper/` (the default grid keeps the
plain `<sweep-dir>/fsdd/`). Like a script, a sweep file can import the modules beside it
(`from . import _classification`): it is loaded as a module of a package that stands for its
folder (config.load_file), with nothing added to sys.path.
"""

from __future__ import annotations

import dataclasses
import inspect
import os

from bilstm_jax import config as config_lib
from bilstm_jax.config import ConfigError
from bilstm_jax.sweeps import naming
from bilstm_jax.sweeps import spec as sweep


def split_spec(spec: str) -> tuple[str, str | None]:
  """'experiments/fsdd.py:paper' -> ('experiments/fsdd.py', 'paper'); no ':' -> (spec, None)."""
  path, sep, grid = spec.partition(":")
  return path, (grid if sep else None)


def grid_default(get_sweep) -> str | None:
  """The default of get_sweep's first parameter (its grid), None when it takes no argument."""
  params = list(inspect.signature(get_sweep).parameters.values())
  if not params or params[0].default is inspect.Parameter.empty:
    return None
  return params[0].default


def import_get_sweep(path: str):
  """The file's get_sweep function, its folder importable while the file runs."""
  module = config_lib.load_file(path, "sweep file")
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"{path} defines no get_sweep()")
  return module.get_sweep


def load(spec: str) -> tuple[str, sweep.Sweep]:
  """(run-directory name, Sweep) for 'experiments/<name>.py' or 'experiments/<name>.py:<grid>'.

  The name is the file's stem, plus '_<grid>' for a grid other than the default
  (experiments/fsdd.py and experiments/fsdd.py:cpu name the same runs; :paper its own).
  """
  path, grid = split_spec(spec)
  get_sweep = import_get_sweep(path)
  default = grid_default(get_sweep)
  if grid is not None and default is None:
    raise ConfigError(f"{spec}: {path}'s get_sweep() takes no grid argument; drop ':{grid}'")
  try:
    loaded = sweep.as_sweep(get_sweep() if grid is None else get_sweep(grid))
  except (TypeError, ValueError) as err:
    raise ConfigError(f"{spec}: {err}") from None
  stem = naming.sanitize(os.path.splitext(os.path.basename(path))[0])
  name = stem if grid in (None, default) else naming.sanitize(f"{stem}_{grid}")
  return name, dataclasses.replace(loaded, config=_resolve_config(loaded.config, path))


def _resolve_config(spec: str, sweep_path: str) -> str:
  """Config paths are relative to the working directory, else to the sweep file's repo."""
  path, sep, arg = spec.partition(":")
  if not os.path.isabs(path) and not os.path.isfile(path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(sweep_path)))
    if os.path.isfile(os.path.join(repo, path)):
      path = os.path.join(repo, path)
  return path + sep + arg
