"""How long this process took to reach its first training step, and its peak memory.

Both go into results.json: start-up (imports, data, compilation) is most of a short run on a
cluster, and the peak RSS is what a job's memory request must cover.
"""

from __future__ import annotations

import resource
import sys
import time

import psutil


def seconds_since_start() -> float:
  """Wall seconds since this process started (interpreter start-up and imports included)."""
  return time.time() - psutil.Process().create_time()


def peak_rss_mib() -> float:
  """The largest resident set this process has had, in MiB."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
