"""Loads `path[:arg]` config files and applies dotted overrides with one clear error per mistake.

`bilstm-train` checks its `--config.key=value` flags with this before absl parses them (so a
misspelled key is one line naming the valid keys, not a traceback); sweeps use it to build
each row's config.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import types

import ml_collections
from absl import flags
from ml_collections import config_flags


class ConfigError(ValueError):
  """A bad config path, variant or key; the message says what is allowed."""


def _folder_package(folder: str) -> str:
  """The name of a package standing for `folder`, registered on first use.

  Config and sweep files are loaded by path, not installed; making each file a module of a
  package whose path is its folder lets it import its siblings with `from . import common`,
  with nothing added to sys.path.
  """
  name = "_bilstm_files_" + hashlib.sha1(folder.encode()).hexdigest()[:12]
  if name not in sys.modules:
    package = types.ModuleType(name, f"the files of {folder}")
    package.__path__ = [folder]
    sys.modules[name] = package
  return name


def load_file(path: str, what: str = "file") -> types.ModuleType:
  """Executes the Python file at `path` afresh, as a module of its folder's package."""
  if not os.path.isfile(path):
    raise ConfigError(f"{what} {path!r} does not exist")
  path = os.path.abspath(path)
  package = _folder_package(os.path.dirname(path))
  name = f"{package}.{os.path.splitext(os.path.basename(path))[0]}"
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  sys.modules[name] = module  # dataclasses and pickling look the module up by name
  module_spec.loader.exec_module(module)
  return module


def load_config(spec: str) -> ml_collections.ConfigDict:
  """`configs/trec.py:smoke` -> the locked ConfigDict its get_config(arg) returns."""
  path, _, arg = spec.partition(":")
  module = load_file(path, "config file")
  try:
    config = module.get_config(arg or None)
  except ValueError as err:
    raise ConfigError(f"{spec}: {err}") from None
  config.lock()
  return config


def check_key(config: ml_collections.ConfigDict, dotted: str):
  """The value at `dotted`; ConfigError naming the valid keys where it leaves the tree."""
  node, walked = config, []
  for part in dotted.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = ".".join(walked) or "the top level"
      valid = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      raise ConfigError(f"config key {dotted!r} does not exist; valid keys at {where}: "
                        + ", ".join(valid))
    node = node[part]
    walked.append(part)
  return node


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict) -> None:
  """Sets dotted keys (values already typed, e.g. from a sweep file) on a locked config."""
  for dotted, value in overrides.items():
    check_key(config, dotted)
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
      node = node[part]
    try:
      node[leaf] = value
    except (TypeError, ValueError) as err:
      raise ConfigError(f"config key {dotted!r}: cannot set {value!r}: {err}") from None


def parse_override(config: ml_collections.ConfigDict, item: str) -> tuple[str, object]:
  """'model.units=64' -> ('model.units', 64), typed like the field it replaces."""
  dotted, sep, text = item.partition("=")
  if not sep:
    raise ConfigError(f"override {item!r} is not KEY=VALUE")
  node = check_key(config, dotted)
  if isinstance(node, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ConfigError(f"config key {dotted!r}: {text!r} is not a boolean (true/false)")
    return dotted, text.lower() in ("true", "1")
  if isinstance(node, (int, float)):
    try:
      return dotted, type(node)(text)
    except ValueError:
      kind = "an integer" if isinstance(node, int) else "a number"
      raise ConfigError(f"config key {dotted!r}: {text!r} is not {kind}") from None
  return dotted, text  # strings and None-valued (FieldReference) fields


def override_keys(argv: list[str], flag: str = "config") -> tuple[str | None, list[str]]:
  """The config spec and the dotted keys of `--config.key=value` flags in argv."""
  spec, keys = None, []
  for i, item in enumerate(argv):
    if item.startswith(f"--{flag}="):
      spec = item.split("=", 1)[1]
    elif item == f"--{flag}" and i + 1 < len(argv):
      spec = argv[i + 1]
    elif item.startswith(f"--{flag}."):
      keys.append(item[len(flag) + 3:].split("=", 1)[0])
  return spec, keys


def check_command_line(argv: list[str], prog: str) -> ml_collections.ConfigDict | None:
  """The config a command line's --config names, loaded and with every --config.key checked
  before absl parses the flags: a mistake exits with one line naming the valid keys instead of
  a traceback from the flag parser. None when --config is missing (absl then says so)."""
  spec, keys = override_keys(argv[1:])
  if spec is None:
    return None
  try:
    config = load_config(spec)
    for key in keys:
      check_key(config, key)
  except ConfigError as err:
    sys.exit(f"{prog}: error: {err}")
  return config


class _ConfigFileParser(flags.ArgumentParser):
  """Parses a config flag's `path[:arg]` as load_config does (locked, siblings importable)."""

  def parse(self, argument):
    return load_config(argument)

  def flag_type(self):
    return "config object"


def define_config_flag(name: str, help_string: str, **kwargs):
  """`--<name>=path[:arg]` plus `--<name>.key=value` overrides, as config_flags.DEFINE_config_file
  defines them, with the file loaded by load_config (ml_collections' own loader runs a file
  outside any package, where `from . import common` fails)."""
  holder = config_flags.DEFINE_config_file(name, None, help_string, lock_config=True, **kwargs)
  flag_values = kwargs.get("flag_values", flags.FLAGS)
  flag_values[name].parser = _ConfigFileParser()
  return holder
