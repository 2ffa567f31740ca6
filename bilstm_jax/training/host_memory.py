"""Keep freed host memory for reuse instead of handing it back to the kernel (glibc, CPU runs).

XLA:CPU allocates each call's temp buffer (hundreds of MiB for a training step at the bench's
default shape) with posix_memalign and frees it when the call ends. glibc serves blocks that
large with mmap and frees them with munmap, so every step page-faults its whole temp space
again: measured ~60,000 minor faults and ~120 ms of kernel time per default-shape train step.
With one arena, no mmap and no trimming, glibc serves them from its main heap and keeps the
freed pages there, and the next call reuses them: 0 faults per step after the first ones.
How many faults the default allocator costs depends on the host (its glibc, transparent huge
pages): `bilstm-bench` reports this host's figure (`faults_per_call`).

The price: the process keeps its peak heap (the bench process grew from 0.7 to 1.3 GiB), and
all threads share one arena. That buys nothing when JAX runs on a GPU or TPU (XLA's temps are
device memory there), so the setting applies only when JAX will run on the CPU (`runs_on_cpu`).
Call it before JAX runs its first computation: the option that matters (one arena) only
reaches threads that have not allocated yet, and XLA's thread pool starts with the backend.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import textwrap

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def jax_platforms() -> str | None:
  """The platform list JAX will use (e.g. 'cpu', 'cuda,cpu'), None when left to JAX.

  Read without initialising a backend: JAX's own config when jax is already imported (it holds
  JAX_PLATFORMS and any jax.config.update), else the JAX_PLATFORMS environment variable.
  """
  jax = sys.modules.get("jax")
  if jax is not None and hasattr(jax, "config"):
    return jax.config.jax_platforms or None
  return os.environ.get("JAX_PLATFORMS") or None


def accelerator_plugins() -> list[str]:
  """The installed JAX accelerator plugins (CUDA, ROCm, TPU, ...), found without importing them."""
  names = [entry.name for entry in importlib.metadata.entry_points(group="jax_plugins")]
  spec = importlib.util.find_spec("jax_plugins")  # the namespace package JAX also scans
  folders = list(spec.submodule_search_locations or []) if spec is not None else []
  for folder in folders:
    names += sorted(name for name in os.listdir(folder) if not name.startswith(("_", ".")))
  if importlib.util.find_spec("libtpu") is not None:
    names.append("libtpu")
  return names


def runs_on_cpu(platforms: str | None, plugins: list[str]) -> bool:
  """Whether JAX's default backend will be the CPU.

  The rule: with a platform list (JAX_PLATFORMS or jax.config's jax_platforms), JAX's default
  backend is its first entry, so the CPU exactly when that is 'cpu'. Without one, JAX takes an
  accelerator whenever its plugin is installed and finds a device; telling whether one will is
  initialising the backend, too late for the setting, so any accelerator plugin counts as
  "not CPU" (set JAX_PLATFORMS=cpu for a CPU run on such a machine).
  """
  if platforms:
    return platforms.split(",")[0].strip().lower() == "cpu"
  return not plugins


def retain_freed_memory() -> bool:
  """Applies the options; False (and nothing changed) where JAX will not run on the CPU or the
  C library is not glibc."""
  if not runs_on_cpu(jax_platforms(), accelerator_plugins()):
    return False
  name = ctypes.util.find_library("c")
  try:
    libc = ctypes.CDLL(name)
    mallopt = libc.mallopt
    libc.gnu_get_libc_version  # pylint: disable=pointless-statement  (glibc only)
  except (OSError, AttributeError, TypeError):
    return False
  mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
  return all(mallopt(param, value) == 1 for param, value in (
      (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM)))


# A jitted call whose 64 MiB hidden activation is an XLA temp (only a sum leaves the call).
_PROBE = textwrap.dedent("""
    import resource, sys
    from bilstm_jax.training import host_memory
    if sys.argv[1] == "retain":
      assert host_memory.retain_freed_memory(), "the setting did not apply"
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x, w: jnp.tanh(jnp.tanh(x @ w) @ w.T).sum())
    x, w = jnp.ones((8192, 256)), jnp.ones((256, 2048))
    for _ in range(3):
      f(x, w).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
      f(x, w).block_until_ready()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
""")
PROBE_TEMP_PAGES = 64 * 2**20 // 4096


def faults_per_call(malloc: str, timeout_s: float = 300) -> int:
  """Minor page faults per call of a probe with a 64 MiB XLA temp, in a fresh CPU process with
  the allocator as is ('default') or with retain_freed_memory ('retain'). Linux only."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, "-c", _PROBE, malloc], capture_output=True, text=True,
                       timeout=timeout_s, check=True, env=env).stdout
  return int(out.split()[-1])
