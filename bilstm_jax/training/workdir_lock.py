"""One process at a time in a run directory: flocks that die with their holder.

Two trainers in one workdir overwrite each other's checkpoints (orbax's temporary folders
included), so `train.train_and_evaluate` holds workdir/trainer.lock while it runs; the sweep
launcher holds workdir/.lock around each row (`sweep_rows`). flock, not a file created with
O_EXCL: the kernel drops the lock when its holder dies, even by kill -9, so nothing stale is
left to clean up by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

TRAINER_LOCK = "trainer.lock"
EXIT_BUSY = 73  # the exit status of a launch that found its run directory in use; nothing ran


class WorkdirBusy(RuntimeError):
  """Another process holds this run directory's lock."""


def try_flock(path: str) -> int | None:
  """An open fd holding an exclusive flock on `path` (which records host and pid), or None if
  another process holds it."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    os.close(fd)
    return None
  os.ftruncate(fd, 0)
  os.write(fd, f"{os.uname().nodename} {os.getpid()}\n".encode())
  return fd


def holder(path: str) -> str:
  """'host pid' of the lock's holder, as it wrote it."""
  try:
    with open(path) as f:
      return f.read().strip() or "unknown"
  except OSError:
    return "unknown"


@contextlib.contextmanager
def hold_trainer_lock(workdir: str):
  """Holds workdir/trainer.lock for the block; WorkdirBusy if another trainer has it."""
  path = os.path.join(workdir, TRAINER_LOCK)
  fd = try_flock(path)
  if fd is None:
    raise WorkdirBusy(f"{workdir} is in use by another bilstm-train (host and pid: "
                      f"{holder(path)}); rerun this command once that one has stopped, or "
                      "give this run its own --workdir")
  try:
    yield
  finally:
    os.close(fd)
