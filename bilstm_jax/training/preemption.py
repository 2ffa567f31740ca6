"""Preemption: SIGUSR1/SIGTERM ask the trainer to checkpoint and exit at the next step boundary.

SLURM sends SIGUSR1 before a time limit (`sbatch --signal=B:USR1@<s>`, forwarded to us by
slurm/array.sbatch) and SIGTERM on preemption or cancel. Dying mid-step would lose the work since
the last checkpoint, so the handler only records the request; `train_and_evaluate` polls it
between steps (every step in one process; after each log, eval or checkpoint step when several
processes must agree), saves a checkpoint and returns None, and `bilstm-train` exits with
EXIT_PREEMPTED so the batch script knows to requeue.
"""

from __future__ import annotations

import os
import signal
import time

# EX_TEMPFAIL from sysexits.h ("try again later"): stopped on request with a checkpoint saved.
EXIT_PREEMPTED = 75
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
# SLURM may deliver one request twice at once (to every process, and forwarded by the batch
# script); only a repeat after this long means "really stop now".
REPEAT_GRACE_S = 5.0


class StopRequest:
  """A callable for `train_and_evaluate(should_stop=...)` that turns True once a signal arrives."""

  def __init__(self):
    self.signal_name: str | None = None
    self._first_at = 0.0
    self._previous = {}

  def __call__(self) -> bool:
    return self.signal_name is not None

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    # Only record: the handler runs between bytecodes of whatever the main thread was doing
    # (possibly a print or an orbax write), so it must not do I/O or raise.
    now = time.monotonic()
    if self.signal_name is None:
      self.signal_name = signal.Signals(signum).name
      self._first_at = now
    elif now - self._first_at > REPEAT_GRACE_S:
      # Asked again well after the first request: the process is stuck (e.g. not reaching a
      # step boundary), so let this signal do what it does by default and end it.
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)

  def install(self, signals=STOP_SIGNALS) -> StopRequest:
    for signum in signals:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def uninstall(self) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}


def install_stop_request(signals=STOP_SIGNALS) -> StopRequest:
  """Installs the handlers (main thread only) and returns the `should_stop` callable."""
  return StopRequest().install(signals)
