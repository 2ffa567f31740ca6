"""The train loop's phases: one exit path, the best checkpoint's direction, finite checkpoints,
log windows, when processes agree on stopping."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax import data, models
from bilstm_jax.training import checkpoint, loop, optimizer, parallel, setup, train, writer
from tests.test_train import _smoke_config


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _saved_steps(workdir, kind="latest"):
  folder = os.path.join(workdir, "checkpoints", kind)
  return sorted(int(p) for p in os.listdir(folder) if p.isdigit()) if os.path.isdir(folder) else []


def _assert_finite_checkpoints(workdir, steps, kind="latest"):
  assert steps, "no checkpoint to check"
  ckpts = checkpoint.Checkpoints(str(workdir))
  manager = ckpts.latest if kind == "latest" else ckpts.best
  try:
    for step in steps:
      params = manager.restore(step)["state"]["params"]
      assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(params)), step
  finally:
    ckpts.close()


def _params_turn_nan_at(monkeypatch, bad_step):
  """The loop's train_step, except that the update of step index `bad_step` makes every
  parameter NaN while that step's metrics (taken before the update) stay finite: what a
  diverging step looks like at the boundary that follows it."""
  real = loop.train_step

  def train_step(state, batch, rng, *args, **kwargs):
    new_state, step_metrics = real(state, batch, rng, *args, **kwargs)
    poison = jnp.where(state.step == bad_step, jnp.nan, 0.0)
    return new_state.replace(params=jax.tree_util.tree_map(lambda p: p + poison,
                                                           new_state.params)), step_metrics

  monkeypatch.setattr(loop, "train_step", train_step)


@pytest.mark.parametrize("outcome", ["done", "stopped", "error"])
def test_every_exit_closes_the_checkpoints_and_the_writer(tmp_path, monkeypatch, outcome):
  closed = []
  ckpts_close, writer_close = checkpoint.Checkpoints.close, writer.MetricWriter.close
  monkeypatch.setattr(checkpoint.Checkpoints, "close",
                      lambda self: closed.append("checkpoints") or ckpts_close(self))
  monkeypatch.setattr(writer.MetricWriter, "close",
                      lambda self, *a, **k: closed.append("writer") or writer_close(self, *a, **k))
  polls = []

  def should_stop():
    polls.append(1)
    if outcome == "error" and len(polls) > 3:
      raise RuntimeError("a failure mid-run")
    return outcome == "stopped" and len(polls) > 3

  if outcome == "error":
    with pytest.raises(RuntimeError, match="a failure mid-run"):
      train.train_and_evaluate(_smoke_config(), str(tmp_path), should_stop=should_stop)
  else:
    result = train.train_and_evaluate(_smoke_config(), str(tmp_path), should_stop=should_stop)
    assert (result is None) == (outcome == "stopped")
  assert sorted(closed) == ["checkpoints", "writer"]


def test_eval_metric_val_loss_keeps_the_step_with_the_lowest_val_loss(tmp_path):
  config = _smoke_config(total_steps=8, eval_metric="val/loss")
  results = train.train_and_evaluate(config, str(tmp_path))
  losses = [(r["val/loss"], r["step"]) for r in _records(tmp_path) if "val/loss" in r]
  assert len(losses) == 4 and len({loss for loss, _ in losses}) > 1
  lowest = min(loss for loss, _ in losses)
  want = max(step for loss, step in losses if loss == lowest)  # ties: the later step
  assert results["best_step"] == want
  assert results["best_value"] == lowest
  assert results["val/loss"] == pytest.approx(lowest, rel=1e-6)  # evaluated at that step


def test_params_that_turn_nan_before_a_save_never_reach_a_checkpoint(tmp_path, monkeypatch):
  _params_turn_nan_at(monkeypatch, bad_step=3)  # the update that ends step 4
  config = _smoke_config(total_steps=8)
  with pytest.raises(FloatingPointError, match=r"non-finite parameters at step 4 \(checked "
                     r"steps 3-4\)"):
    train.train_and_evaluate(config, str(tmp_path))
  assert _saved_steps(tmp_path) == [2]
  _assert_finite_checkpoints(tmp_path, [2])
  assert _saved_steps(tmp_path, "best") == [2]
  _assert_finite_checkpoints(tmp_path, [2], "best")
  assert not (tmp_path / "results.json").exists()


def test_params_that_turn_nan_before_a_stop_never_reach_a_checkpoint(tmp_path, monkeypatch):
  _params_turn_nan_at(monkeypatch, bad_step=3)
  # No boundary before the stop: the stop's save is the first time the host looks.
  config = _smoke_config(total_steps=8, log_every_steps=100, eval_every_steps=100,
                         ckpt_every_steps=100)
  polls = []
  with pytest.raises(FloatingPointError, match=r"non-finite parameters at step 4 \(checked "
                     r"steps 1-4\)"):
    train.train_and_evaluate(config, str(tmp_path),
                             should_stop=lambda: polls.append(1) or len(polls) > 4)
  assert len(polls) == 5  # the stop came before step 5, after the update that broke them
  assert _saved_steps(tmp_path) == [] and _saved_steps(tmp_path, "best") == []


def test_logged_train_metrics_are_window_means_and_tokens_per_s_the_windows_rate(
    tmp_path, monkeypatch):
  clock = iter(range(1000))  # every read of the loop's clock is one second later
  monkeypatch.setattr(loop, "_now", lambda: float(next(clock)))
  config = _smoke_config(total_steps=8, log_every_steps=4, eval_every_steps=4,
                         ckpt_every_steps=4)
  train.train_and_evaluate(config, str(tmp_path))
  logged = {r["step"]: r for r in _records(tmp_path) if "train/loss" in r}
  assert sorted(logged) == [4, 8]

  # The same steps, one at a time, outside the loop.
  splits, info = data.get_datasets(config.data)
  stream = train.make_stream(config, splits["train"])
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  state, rng = setup.initial_state(config, models.build_model(config.model, info), tx,
                                   stream.batch(0), parallel.make_mesh())
  step_fn = jax.jit(lambda s, b, r: train.train_step(s, b, r, schedule))
  per_step, tokens = [], []
  for step in range(config.total_steps):
    batch = train.host_batch(stream, step, config.data, config.seed, info)
    state, step_metrics = step_fn(state, batch, rng)
    per_step.append({k: float(v) for k, v in step_metrics.items()})
    tokens.append(int(batch["lengths"].sum()))
  for end in (4, 8):
    window = per_step[end - 4:end]
    for name in loop.TRAIN_METRICS:
      want = np.mean([m[name] for m in window])
      assert logged[end][name] == pytest.approx(want, rel=1e-5), (end, name)
    # With this clock each window trained for exactly one second between its two reads.
    assert logged[end]["perf/tokens_per_s"] == sum(tokens[end - 4:end])
  assert logged[4]["train/loss"] != pytest.approx(per_step[3]["train/loss"], rel=1e-5)


def test_several_processes_agree_on_stopping_only_after_boundary_steps(tmp_path, monkeypatch):
  agreements = []
  monkeypatch.setattr(loop, "_process_count", lambda: 2)
  monkeypatch.setattr(loop, "_agreed", lambda flag: agreements.append(flag) or bool(flag))
  config = _smoke_config(total_steps=8, log_every_steps=4, eval_every_steps=4,
                         ckpt_every_steps=4)
  polls = []
  # Asked to stop from the second poll on: the run stops at the next boundary, step 4.
  assert train.train_and_evaluate(config, str(tmp_path),
                                  should_stop=lambda: polls.append(1) or len(polls) > 1) is None
  assert agreements == [False, True]  # before step 1, then after the boundary at step 4
  assert _saved_steps(tmp_path) == [4]
  agreements.clear()
  results = train.train_and_evaluate(config, str(tmp_path), should_stop=lambda: False)
  assert agreements == [False]  # 4 steps, one boundary before the last: only the start polls
  assert results["final_step"] == 8
