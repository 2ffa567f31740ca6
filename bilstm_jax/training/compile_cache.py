"""The trainer's default: JAX's persistent compilation cache under ~/.cache/bilstm_jax/xla.

A run compiles an initialiser, a train step per bucket shape and the evaluation steps: most of
a short run's start, and the same programs again for every seed of a sweep row, every resumed
or requeued job and every relaunch. With the cache they are loaded instead of compiled.
Cached executables are the same code, so results do not change (docs/performance.md).
`JAX_COMPILATION_CACHE_DIR` names another folder (a shared one on a cluster);
`BILSTM_JAX_COMPILATION_CACHE=off` turns it off.
"""

from __future__ import annotations

import os

DEFAULT_DIR = "~/.cache/bilstm_jax/xla"
OFF_VARIABLE = "BILSTM_JAX_COMPILATION_CACHE"


def use_default_cache(environ=os.environ) -> str | None:
  """Turns the cache on unless the environment decides; returns its folder (None: off)."""
  import jax  # pylint: disable=import-outside-toplevel

  if environ.get(OFF_VARIABLE, "").lower() in ("off", "0", "false"):
    return None
  folder = environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.expanduser(DEFAULT_DIR)
  jax.config.update("jax_compilation_cache_dir", folder)
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in environ:
    # JAX's default (1 s) skips the many small evaluation programs that add up.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  return folder
