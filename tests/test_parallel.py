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
