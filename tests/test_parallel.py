"""Data parallelism: the same run on 2 (forced host) devices matches the 1-device run."""

import json
import os
import subprocess
import sys

from bilstm_jax.training import train
from tests.test_train import CONFIG, _smoke_config

SCRIPT = """
import sys
import jax
from bilstm_jax.training import train
from bilstm_jax.config import load_config
assert jax.device_count() == 2, jax.devices()
config = load_config(sys.argv[1] + ":smoke")
config.wandb.mode = "disabled"
train.train_and_evaluate(config, sys.argv[2])
"""


INIT_SCRIPT = """
import sys
import jax
from bilstm_jax import data, models
from bilstm_jax.config import apply_overrides, load_config
from bilstm_jax.training import optimizer, parallel, setup, train
config = load_config(sys.argv[1] + ":smoke")
apply_overrides(config, {"model.num_layers": 2, "model.units": 64, "batch_size": 5,
                         "optim.ema_decay": 0.5})
splits, info = data.get_datasets(config.data)
stream = setup.make_stream(config, splits["train"])
tx, _ = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
state, _ = setup.initial_state(config, models.build_model(config.model, info), tx,
                               stream.batch(0), parallel.make_mesh())
print(jax.device_count(), stream.batch(0)["inputs"].shape[0], train.params_sha256(state.params),
      train.params_sha256(state.ema_params), train.params_sha256(state.opt_state))
"""


def _initial_state_digest(devices):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu")
  done = subprocess.run([sys.executable, "-c", INIT_SCRIPT, CONFIG], env=env, check=False,
                        capture_output=True, text=True, timeout=180,
                        cwd=os.path.dirname(os.path.dirname(__file__)))
  assert done.returncode == 0, done.stderr[-2000:]
  return done.stdout.split()


def test_the_same_seed_gives_the_same_initial_state_on_one_or_two_devices():
  # A 2-layer model with an odd batch: compiled for a replicated 2-device output, this
  # initialisation hung XLA:CPU; and the batch's rows (5 vs 6) must not reach the draw.
  one, two = _initial_state_digest(1), _initial_state_digest(2)
  assert one[:2] == ["1", "5"] and two[:2] == ["2", "6"]
  assert one[2:] == two[2:]


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["train/loss"] for r in map(json.loads, f) if "train/loss" in r]


def test_two_devices_match_one(tmp_path):
  single = train.train_and_evaluate(_smoke_config(), str(tmp_path / "one"))
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  subprocess.run([sys.executable, "-c", SCRIPT, CONFIG, str(tmp_path / "two")], check=True,
                 env=env, cwd=os.path.dirname(os.path.dirname(__file__)), timeout=300)
  with open(tmp_path / "two" / "results.json") as f:
    double = json.load(f)
  one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
  assert len(one) == len(two) > 0
  for a, b in zip(one, two):
    assert abs(a - b) < 1e-4, (one, two)
  assert abs(single["test/loss"] - double["test/loss"]) < 1e-4
  assert single["test/count"] == double["test/count"]
