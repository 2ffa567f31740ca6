"""train_and_evaluate: set-up, loop, finish, and one exit path that closes what the run opened.

The phases live in setup.py, loop.py and finish.py, the state in state.py; the names other code
uses from here (train_step, create_train_state, make_stream, ...) are re-exported below.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import jax

from bilstm_jax import models
from bilstm_jax.config import ConfigError
from bilstm_jax.training import checkpoint, finish, loop, preemption, run_files, setup, workdir_lock
from bilstm_jax.training.loop import train_step
from bilstm_jax.training.setup import host_batch, make_stream
from bilstm_jax.training.state import (
  RunState,
  TrainState,
  create_train_state,
  eval_params,
  init_train_state,
  params_sha256,
)

__all__ = ["RunState", "TrainState", "checkpoint", "create_train_state", "eval_params",
           "host_batch", "init_train_state", "make_stream", "params_sha256", "run_files",
           "train_and_evaluate", "train_step"]


def _check_loop_config(config) -> None:
  for key in ("total_steps", "batch_size", "eval_batch_size", "log_every_steps",
              "eval_every_steps", "ckpt_every_steps"):
    if not isinstance(config[key], int) or config[key] <= 0:
      raise ConfigError(f"config key {key} must be a positive integer, got {config[key]!r}")


def train_and_evaluate(config, workdir: str, *, should_stop: Callable[[], bool] | None = None,
                       config_defaults: dict | None = None):
  """Trains (resuming from workdir if it holds a checkpoint) and writes results.json.

  `should_stop` is polled at step boundaries (preemption, a test's early stop): when it
  returns True the run saves a checkpoint and returns None; relaunching continues it.
  `config_defaults`: the flat config of the config file without overrides; a relaunch of a
  run saved before a key was added to the code resumes when that key is at its default.
  Returns the results dict once the run is complete.
  """
  # A finished run does nothing.
  is_main = jax.process_index() == 0
  done = run_files.read_results(workdir)
  if done is not None:
    setup.say(f"{workdir} is complete (results.json); nothing to do")
    return done
  _check_loop_config(config)
  models.check_model_config(config.model)  # before the data layer writes vocab files
  # WorkdirBusy if another trainer is in it; the other processes of a multi-process job share
  # process 0's run dir and lock.
  lock = workdir_lock.hold_trainer_lock(workdir) if is_main else contextlib.nullcontext()
  # The one exit path: whatever ends the run (done, stopped, an exception), the stack closes
  # the checkpoints and the writer that set_up pushed on it.
  with lock, contextlib.ExitStack() as closing:
    run = setup.set_up(config, workdir, is_main, config_defaults, closing)
    if not loop.train(run, should_stop):
      run.out.exit_code = preemption.EXIT_PREEMPTED
      return None
    return finish.finish(run)
