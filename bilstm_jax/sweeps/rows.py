"""One sweep row on either backend: its lock, its exit status, its log, its status.

`bilstm-sweep row` (the local runner's subprocesses and slurm/array.sbatch's tasks) calls
exec_row; the table lists each row's run_status.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

from bilstm_jax import files
from bilstm_jax.sweeps import plan
from bilstm_jax.training import preemption, run_files, workdir_lock, writer

LOCK_FILE = ".lock"
EXIT_FILE = "exit_status.json"
LOG_FILE = "train.log"
EXIT_LOCKED = workdir_lock.EXIT_BUSY  # another launcher holds this row's lock; nothing was run


# --- One row (both backends) ----------------------------------------------------------------

def try_lock(workdir: str):
  """An open fd holding an exclusive flock on workdir/.lock, or None if another launcher holds
  it (released by the kernel when the holder dies: workdir_lock)."""
  return workdir_lock.try_flock(os.path.join(workdir, LOCK_FILE))


def is_locked(workdir: str) -> bool:
  """True while some launcher is running this row (used by the table's status list)."""
  if not os.path.isdir(workdir):
    return False
  fd = try_lock(workdir)
  if fd is None:
    return True
  os.close(fd)
  return False


def record_exit(workdir: str, returncode: int) -> None:
  """workdir/exit_status.json: the last attempt's exit code, so a failed row can be listed."""
  os.makedirs(workdir, exist_ok=True)
  files.atomic_write_json(os.path.join(workdir, EXIT_FILE), {
      "returncode": returncode, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
      "slurm": run_files.slurm_ids()})


def read_exit(workdir: str) -> int | None:
  try:
    with open(os.path.join(workdir, EXIT_FILE)) as f:
      return json.load(f)["returncode"]
  except (OSError, ValueError, KeyError):
    return None


def exec_row(manifest: str, index: int) -> int:
  """Takes the row's lock, sends output to its train.log and becomes `bilstm-train` (exec).

  exec keeps the PID, so the batch script's `kill -USR1 $child` reaches the trainer, and the
  lock fd is inherited so the lock is held exactly as long as the trainer runs.
  """
  run = plan.manifest_row(manifest, index)
  sweep = os.path.basename(os.path.dirname(os.path.abspath(run.workdir)))
  if plan.is_finished(run):
    print(f"row {index} {run.run_name}: finished (results.json); nothing to do", flush=True)
    return 0
  fd = try_lock(run.workdir)
  if fd is None:
    print(f"row {index} {run.run_name}: another launcher holds {run.workdir}/{LOCK_FILE}; "
          "not running it twice", flush=True)
    return EXIT_LOCKED
  if plan.is_finished(run):  # finished between the first check and the lock
    return 0
  # The trainer obeys WANDB_MODE anyway (writer.wandb_mode); written into its flags as well, a
  # row's logged command says how it was tracked. "auto" leaves the choice to the config.
  mode = os.environ.get("WANDB_MODE")
  args = plan.train_args(run, sweep,
                              mode if mode in writer.WANDB_MODES and mode != "auto" else None)
  command = [sys.executable, "-m", "bilstm_jax.training.cli"] + args
  log_path = os.path.join(run.workdir, LOG_FILE)
  print(f"row {index} {run.run_name} -> {run.workdir} (log: {log_path})", flush=True)
  log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  header = (f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {os.uname().nodename} "
            f"slurm={os.environ.get('SLURM_JOB_ID', '-')} "
            f"restart={os.environ.get('SLURM_RESTART_COUNT', '0')}\n"
            f"$ bilstm-train {shlex.join(args)}\n")
  os.write(log, header.encode())
  os.dup2(log, 1)
  os.dup2(log, 2)
  os.close(log)
  os.set_inheritable(fd, True)
  os.execv(sys.executable, command)
  return 1  # not reached


def run_status(run: plan.Run) -> str:
  """done | running | failed (exit N) | stopped (resumable) | incomplete | not started."""
  if plan.is_finished(run):
    return "done"
  if not os.path.isdir(run.workdir):
    return "not started"
  if is_locked(run.workdir):
    return "running"
  rc = read_exit(run.workdir)
  if rc == preemption.EXIT_PREEMPTED:
    return "stopped (resumable)"
  if rc not in (None, 0):
    return f"failed (exit {rc}; log {os.path.join(run.workdir, LOG_FILE)})"
  return "incomplete"
