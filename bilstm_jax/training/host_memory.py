"""Keep freed host memory for reuse instead of handing it back to the kernel (glibc only).

XLA:CPU allocates each call's temp buffer (hundreds of MiB for a training step at the bench's
default shape) with posix_memalign and frees it when the call ends. glibc serves blocks that
large with mmap and frees them with munmap, so every step page-faults its whole temp space
again: measured ~60,000 minor faults and ~120 ms of kernel time per default-shape train step.
With one arena, no mmap and no trimming, glibc serves them from its main heap and keeps the
freed pages there, and the next call reuses them: 0 faults per step after the first ones.

The price: the process keeps its peak heap (the bench process grew from 0.7 to 1.3 GiB).
Call it before JAX runs its first computation: the option that matters (one arena) only
reaches threads that have not allocated yet, and XLA's thread pool starts with the backend.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_NEVER_TRIM = 2**31 - 1  # mallopt takes an int


def retain_freed_memory() -> bool:
  """Applies the options; False (and nothing changed) where the C library is not glibc."""
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
