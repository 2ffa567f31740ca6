"""Where a number came from: the code's git commit (and whether it was edited), the machine and
the library versions. Runs (results.json), tables (about.md) and the benchmark all record this.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

# The libraries whose versions can move a result.
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "tensorflow-cpu",
             "tensorflow", "tensorflow-datasets", "torch", "keras")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git_commit() -> dict:
  """{'commit': full sha or 'unknown', 'dirty': True when tracked files differ from it}."""
  try:
    out = subprocess.run(["git", "-C", _PACKAGE_ROOT, "describe", "--always", "--dirty",
                          "--abbrev=40", "--match=NO_TAGS_WANTED"],
                         capture_output=True, text=True, check=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return {"commit": "unknown", "dirty": None}
  dirty = out.endswith("-dirty")
  return {"commit": out.removesuffix("-dirty"), "dirty": dirty}


def library_versions() -> dict:
  """Python and each installed library of LIBRARIES (absent ones are left out)."""
  versions = {"python": platform.python_version()}
  for package in LIBRARIES:
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      pass
  return versions


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine() -> dict:
  """CPU model and count, the JAX backend and its devices, platform and library versions."""
  import jax  # pylint: disable=import-outside-toplevel  (the module stays importable without it)
  devices = jax.devices()
  versions = library_versions()
  return {"cpu": _cpu_model(), "cpu_count": os.cpu_count(),
          "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
          "platform": platform.platform(), "backend": jax.default_backend(),
          "devices": f"{len(devices)} x {devices[0].device_kind}",
          "jax": versions.get("jax"), "python": versions["python"], "versions": versions}


def provenance() -> dict:
  """The commit, its dirty flag and the machine: one record for a run, a table or a benchmark."""
  commit = git_commit()
  return {"git_commit": commit["commit"], "git_dirty": commit["dirty"], "machine": machine()}
