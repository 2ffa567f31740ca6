"""Config files, variants and overrides: each mistake is one clear error."""

import os
import subprocess
import sys

import pytest

from bilstm_jax import config as config_lib
from bilstm_jax.config import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = os.path.join(ROOT, "configs", "synthetic.py")


def test_misspelled_key_lists_valid_keys():
  config = config_lib.load_config(SYNTHETIC)
  with pytest.raises(ConfigError, match=r"'model.unitz' does not exist; valid keys at model: "
                                        r"bidirectional, cell, .*units, unroll"):
    config_lib.check_key(config, "model.unitz")
  with pytest.raises(ConfigError, match=r"valid keys at the top level: batch_size, ckpt_every"):
    config_lib.apply_overrides(config, {"modle.units": 3})


def test_overrides_and_variants():
  config = config_lib.load_config(SYNTHETIC + ":smoke")
  config_lib.apply_overrides(config, {"model.units": 3, "model.merge": "sum"})
  assert config.model.units == 3 and config.model.merge == "sum" and config.total_steps == 4
  with pytest.raises(ConfigError, match=r"unknown config variant 'smok'; allowed: smoke"):
    config_lib.load_config(SYNTHETIC + ":smok")
  with pytest.raises(ConfigError, match="does not exist"):
    config_lib.load_config("configs/nope.py")
  with pytest.raises(ConfigError, match=r"'model.units': cannot set 'many'"):
    config_lib.apply_overrides(config, {"model.units": "many"})


@pytest.mark.parametrize("flag, message", [
    ("--config.model.unitz=3", "bilstm-train: error: config key 'model.unitz' does not exist; "
                               "valid keys at model:"),
    ("--config.model.merge=avg", "bilstm-train: error: config key model.merge: unknown merge "
                                 "mode 'avg'; allowed: concat, sum, mul, ave, none"),
])
def test_cli_reports_one_line_and_writes_nothing(tmp_path, flag, message):
  workdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-m", "bilstm_jax.training.cli", f"--config={SYNTHETIC}:smoke",
       f"--workdir={workdir}", flag], capture_output=True, text=True, cwd=ROOT, timeout=120,
      env=dict(os.environ, WANDB_MODE="disabled"))
  assert proc.returncode != 0
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()
