"""RunState (checkpoint metadata, old plain dicts included) and SGD's own momentum key."""

import glob
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bilstm_jax.config import ConfigError
from bilstm_jax.training import optimizer, train
from bilstm_jax.training.state import LogWindow, RunState, params_finite
from tests.test_train import _smoke_config

# What checkpoints held before RunState: a plain dict with these keys.
OLD_META = {"best_metric": 0.5, "best_step": 2, "train_time_s": 1.5, "train_tokens": 300,
            "epoch": 0, "batch_index": 2}


def test_run_state_round_trips_through_json():
  state = RunState(best_metric=0.25, best_step=4, epoch=1, batch_index=3, train_time_s=2.0,
                   train_tokens=99, window=LogWindow({"train/loss": 1.5}, 1, 10, 0.5))
  assert RunState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_run_state_reads_the_plain_dict_of_older_checkpoints():
  state = RunState.from_dict(OLD_META)
  assert state == RunState(best_metric=0.5, best_step=2, epoch=0, batch_index=2,
                           train_time_s=1.5, train_tokens=300, window=None)
  with pytest.raises(ValueError, match=r"keys this code does not know: \['bset_step'\]"):
    RunState.from_dict({**OLD_META, "bset_step": 1})


def test_a_checkpoint_with_old_dict_metadata_resumes(tmp_path):
  config = _smoke_config()
  calls = []
  train.train_and_evaluate(config, str(tmp_path),
                           should_stop=lambda: calls.append(1) or len(calls) > 2)
  metas = glob.glob(str(tmp_path / "checkpoints" / "*" / "2" / "meta" / "metadata"))
  assert len(metas) == 2  # latest and best, both at step 2
  for path in metas:
    with open(path) as f:
      meta = json.load(f)
    assert meta.pop("window") is None
    assert set(meta) == set(OLD_META)
    with open(path, "w") as f:
      json.dump(meta, f)  # as the trainer wrote it before RunState
  results = train.train_and_evaluate(config, str(tmp_path))
  assert results["final_step"] == config.total_steps
  assert os.path.exists(tmp_path / "results.json")


def _sgd_updates(**optim):
  config = _smoke_config(**{"optim.name": "sgd", "optim.grad_clip_norm": 0.0,
                            "schedule.name": "constant", "schedule.warmup_steps": 0,
                            **{f"optim.{k}": v for k, v in optim.items()}})
  tx, _ = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  params = {"w": jnp.ones(3)}
  opt_state = tx.init(params)
  updates = []
  for _ in range(3):  # a constant gradient: momentum makes the steps grow
    update, opt_state = tx.update({"w": jnp.ones(3)}, opt_state, params)
    updates.append(float(update["w"][0]))
  return updates


def test_sgd_momentum_is_its_own_key_and_b1_does_not_touch_it():
  lr = _smoke_config().optim.learning_rate
  np.testing.assert_allclose(_sgd_updates(momentum=0.0, b1=0.9), [-lr] * 3, rtol=1e-6)
  np.testing.assert_allclose(_sgd_updates(momentum=0.5, b1=0.0),
                             [-lr, -1.5 * lr, -1.75 * lr], rtol=1e-6)
  assert _sgd_updates(momentum=0.5, b1=0.9) == _sgd_updates(momentum=0.5, b1=0.0)


def test_bad_sgd_momentum_is_one_clear_error():
  config = _smoke_config(**{"optim.name": "sgd", "optim.momentum": 1.0})
  with pytest.raises(ConfigError, match=r"optim.momentum must be in \[0, 1\)"):
    optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)


def test_params_finite_sees_a_single_nan_in_the_average():
  params = {"a": jnp.ones(3), "b": jnp.zeros((2, 2), jnp.bfloat16)}
  state = train.TrainState.create(apply_fn=None, params=params, tx=optax.sgd(1.0),
                                  ema_params=jax.tree_util.tree_map(jnp.copy, params))
  assert params_finite(state)
  with_inf = {**params, "a": params["a"].at[1].set(jnp.inf)}
  with_nan = {**params, "b": params["b"].at[0, 0].set(jnp.nan)}
  assert not params_finite(state.replace(ema_params=with_inf))
  assert not params_finite(state.replace(params=with_nan))
