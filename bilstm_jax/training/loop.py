"""The train loop: jitted steps that sum their metrics on the devices, host checks at boundaries."""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils

from bilstm_jax.training import (
  crf_loss,
  ctc_loss,
  metric_direction,
  metrics,
  optimizer,
  parallel,
  process_stats,
)
from bilstm_jax.training.setup import Run, say
from bilstm_jax.training.state import LogWindow, TrainState, eval_params

# Averaged over each log window; the watched ones stop the run when not finite.
TRAIN_METRICS = ("train/loss", "train/accuracy", "train/grad_norm", "train/learning_rate")
WATCHED = ("train/loss", "train/grad_norm")


def train_step(state: TrainState, batch, rng, schedule, ema_decay: float = 0.0,
               label_smoothing: float = 0.0, crf: crf_loss.CRFSpec | None = None,
               ctc: bool = False):
  """One optimizer step; returns the new state and scalar metrics (loss, grad norm, lr).

  With a state that carries `ema_params`, the average moves towards the new parameters."""
  dropout_rng = jax.random.fold_in(rng, state.step)

  def loss_fn(params):
    logits = state.apply_fn({"params": params}, batch["inputs"], batch["lengths"], train=True,
                            rngs={"dropout": dropout_rng})
    if crf is not None:  # a CRF head: its emissions and params['crf'] give the loss
      return crf_loss.loss_and_sums(logits, params, batch, crf)
    if ctc:  # per-frame logits against a label string (batch['label_lengths'])
      return ctc_loss.loss_and_sums(logits, batch)
    return metrics.loss_and_sums(logits, batch, label_smoothing=label_smoothing)

  (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads)
  if state.ema_params is not None:
    new_state = new_state.replace(
        ema_params=optimizer.update_ema(state.ema_params, new_state.params, state.step, ema_decay))
  return new_state, {
      "train/loss": loss,
      "train/accuracy": sums["correct_sum"] / jnp.maximum(sums["count"], 1.0),
      "train/grad_norm": optax.tree.norm(grads),
      "train/learning_rate": schedule(state.step),
  }


def make_window_step(schedule, ema_decay: float, label_smoothing: float,
                     crf: crf_loss.CRFSpec | None = None, ctc: bool = False):
  """jit((state, totals, batch, rng) -> (state, totals)), both donated: one train_step, its
  metrics added to the window's totals on the devices, so the host fetches them only at
  boundaries. totals['bad'][name]: the first step whose `name` was not finite (-1: none)."""

  def step(state, totals, batch, rng):
    done = state.step + 1
    state, step_metrics = train_step(state, batch, rng, schedule, ema_decay, label_smoothing,
                                     crf, ctc)
    sums = {k: totals["sums"][k] + step_metrics[k] for k in TRAIN_METRICS}
    bad = {k: jnp.where((totals["bad"][k] < 0) & ~jnp.isfinite(step_metrics[k]),
                        done, totals["bad"][k]).astype(jnp.int32) for k in WATCHED}
    return state, {"sums": sums, "bad": bad}

  return jax.jit(step, donate_argnums=(0, 1))


def _totals(sums: dict[str, float], mesh):
  """Window totals on the devices, starting from `sums` (empty: a fresh window)."""
  host = {"sums": {k: np.float32(sums.get(k, 0.0)) for k in TRAIN_METRICS},
          "bad": {k: np.int32(-1) for k in WATCHED}}
  return parallel.place(host, parallel.replicated(mesh))


def _cut(window: LogWindow, host_totals) -> LogWindow | None:
  """The window as a save records it (None when empty), so a resumed run logs the same means."""
  if not window.steps:
    return None
  return LogWindow({k: float(v) for k, v in host_totals["sums"].items()}, window.steps,
                   window.tokens, window.seconds)


def _now() -> float:
  """The loop's clock (one name, so a test can drive it)."""
  return time.perf_counter()


def _process_count() -> int:
  return jax.process_count()


def _agreed(flag: bool) -> bool:
  """True on every process when any process was asked to stop (a signal may reach only one);
  processes that disagreed would deadlock in the next collective or checkpoint."""
  if _process_count() == 1:
    return bool(flag)
  return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))


def _check_metrics(host_totals, first: int, last: int) -> None:
  """FloatingPointError naming the first step of first..last whose loss or grad norm was not
  finite; nothing is written after it."""
  bad = sorted((int(host_totals["bad"][name]), i, name) for i, name in enumerate(WATCHED)
               if host_totals["bad"][name] >= 0)
  if bad:
    step, _, name = bad[0]
    raise FloatingPointError(
        f"non-finite {name} at step {step} (checked steps {first}-{last}); the run stops here "
        "and its checkpoints stay at the last finite step")


def train(run: Run, should_stop: Callable[[], bool] | None) -> bool:
  """Trains run.state to config.total_steps; False when stopped on request (with a checkpoint).

  Train metrics are summed on the devices and logged as means over each log window.
  perf/tokens_per_s is the window's tokens over its training seconds (evaluations and saves
  excluded; the first window after a (re)start includes the compilation of each new shape).
  One process polls should_stop before every step; several agree on it (one all-gather) only
  after a boundary step (log, eval or checkpoint), so a step never waits on the others' hosts.
  """
  config, progress = run.config, run.progress
  window = progress.window or LogWindow()
  progress.window = None
  totals = _totals(window.sums, run.mesh)
  window_step = make_window_step(run.schedule, run.ema_decay, run.label_smoothing, run.crf,
                                 run.ctc)
  start_step = int(run.state.step)
  first_unchecked = start_step + 1  # the first step whose metrics the host has not seen
  mark = interval_start = _now()  # train_time_s counted up to mark; the window's since start
  several = _process_count() > 1
  boundary = True  # polled in a multi-process run: the first step follows a (re)start
  for step in range(start_step, config.total_steps):
    if should_stop is not None and (boundary or not several) and _agreed(should_stop()):
      host = jax.device_get(totals)
      _check_metrics(host, first_unchecked, step)
      now = _now()
      window.seconds += now - interval_start
      progress.train_time_s += now - mark
      progress.window = _cut(window, host)
      run.save("latest", step, first_unchecked)
      say(f"stopped at step {step}; relaunch the same command to continue")
      return False
    batch = run.train_batch(step)
    run.state, totals = window_step(run.state, totals, parallel.shard_batch(batch, run.mesh),
                                    run.dropout_rng)
    if step == start_step:  # once per process: its start-up, compilation included
      jax.block_until_ready(run.state.step)
      run.startup_s = process_stats.seconds_since_start()
      say(f"first step done {run.startup_s:.1f}s after the process started")
    tokens = int(batch["lengths"].sum())
    window.steps, window.tokens = window.steps + 1, window.tokens + tokens
    progress.train_tokens += tokens
    done = step + 1
    is_last = done == config.total_steps
    log_now = done % config.log_every_steps == 0 or is_last
    eval_now = done % config.eval_every_steps == 0 or is_last
    ckpt_now = done % config.ckpt_every_steps == 0 or is_last
    boundary = log_now or eval_now or ckpt_now
    run.out.advance(done)
    if not boundary:
      continue
    # Host check before anything is written: a non-finite step never reaches a checkpoint.
    host = jax.device_get(totals)
    now = _now()
    window.seconds += now - interval_start
    progress.train_time_s += now - mark
    mark = now
    _check_metrics(host, first_unchecked, done)
    record = {}
    if log_now:
      record.update({k: float(host["sums"][k]) / window.steps for k in TRAIN_METRICS})
      record["perf/tokens_per_s"] = window.tokens / max(window.seconds, 1e-9)
      record["train/padding_fraction"] = run.stream.padding_fraction(run.stream.position(step)[0])
      record["train/epoch"] = run.stream.fractional_epoch(step)
      window, totals = LogWindow(), _totals({}, run.mesh)
    if eval_now:
      record.update(run.evaluate(eval_params(run.state), "val"))
      value = record[config.eval_metric]
      # Ties go to the later step: a small validation set saturates early (FSDD: 264/270
      # from step 400 of 2000) and the later model has trained on more data.
      if metric_direction.improves(value, progress.best_metric, config.eval_metric):
        progress.best_metric, progress.best_step = value, done
        run.save("best", done, first_unchecked)
    if record:
      run.out.write(done, record)
    if ckpt_now:
      progress.window = _cut(window, host)
      run.save("latest", done, first_unchecked)
      progress.window = None
    first_unchecked = done + 1
    interval_start = _now()
  run.out.close_bar()
  return True
