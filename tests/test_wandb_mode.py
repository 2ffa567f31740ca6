"""Which W&B mode a run uses: the environment's WANDB_MODE over the config's wandb.mode."""

import pytest

from bilstm_jax.config import ConfigError
from bilstm_jax.training import writer


@pytest.mark.parametrize("config_mode", ["auto", "online", "offline", "disabled"])
@pytest.mark.parametrize("env_mode", ["online", "offline", "disabled"])
def test_environment_wins_over_the_config(config_mode, env_mode):
  assert writer.wandb_mode(config_mode, env_mode) == env_mode


@pytest.mark.parametrize("config_mode", ["online", "offline", "disabled"])
def test_config_decides_when_the_environment_is_silent(config_mode):
  assert writer.wandb_mode(config_mode, None) == config_mode
  assert writer.wandb_mode(config_mode, "") == config_mode


def test_env_auto_defers_to_an_explicit_config():
  assert writer.wandb_mode("offline", "auto") == "offline"


def test_bad_environment_value_names_the_variable_and_the_allowed_values():
  with pytest.raises(ConfigError, match=r"WANDB_MODE='dryrun'; allowed: auto, online, offline"):
    writer.wandb_mode("auto", "dryrun")


def test_bad_config_value_names_the_key():
  with pytest.raises(ConfigError, match=r"config key wandb.mode: 'local'; allowed"):
    writer.wandb_mode("local", "offline")
