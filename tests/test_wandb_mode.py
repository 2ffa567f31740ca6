"""Which W&B mode a run uses (the environment's WANDB_MODE over wandb.mode), and its run id file."""

import os

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


def test_the_run_id_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
  def node_dies(fd):
    raise OSError("the node died before the id reached the disk")

  monkeypatch.setattr(os, "fsync", node_dies)
  with pytest.raises(OSError, match="node died"):
    writer.wandb_run_id(str(tmp_path))
  assert os.listdir(tmp_path) == []  # no empty or partial id for a relaunch to resume
  monkeypatch.undo()
  run_id = writer.wandb_run_id(str(tmp_path))
  assert len(run_id) == 12 and writer.wandb_run_id(str(tmp_path)) == run_id
  assert os.listdir(tmp_path) == [writer.WANDB_ID_FILE]


def test_an_empty_run_id_file_gets_a_fresh_id(tmp_path):
  (tmp_path / writer.WANDB_ID_FILE).write_text("")  # left by a writer without fsync
  run_id = writer.wandb_run_id(str(tmp_path))
  assert len(run_id) == 12 and (tmp_path / writer.WANDB_ID_FILE).read_text() == run_id
