"""Every task config, plain and smoke, loads locked and builds a model."""

import glob
import os

import jax
import numpy as np
import pytest

from bilstm_jax import models
from bilstm_jax.config import ConfigError, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if os.path.basename(p) not in ("common.py", "__init__.py"))


def _info(config):
  if config.data.name == "speech":
    # connected_digits.py: transcription (CTC) or, with :framewise, a tag per frame.
    task = config.data.task if config.data.format == "connected_digits" else "classification"
    return {"task": task, "vocab_size": None, "feature_dim": 6, "num_classes": 3}
  task = "tagging" if config.data.task == "tagging" else "classification"
  info = {"task": task, "vocab_size": 11, "feature_dim": None, "num_classes": 3}
  if config.data.max_word_chars:  # a character encoder by default (conll_ner.py)
    info["char_vocab_size"] = 7
  return info


def test_there_are_task_configs():
  names = {os.path.basename(p)[:-3] for p in CONFIGS}
  assert {"synthetic", "trec", "sst2", "imdb", "ud_pos", "conll_ner", "polarity", "fsdd",
          "speech_commands", "connected_digits"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(p))
@pytest.mark.parametrize("variant", ["", ":smoke"])
def test_config_builds_a_model(path, variant):
  config = load_config(path + variant)
  with pytest.raises(AttributeError):
    config.model.unitz = 3  # locked
  info = _info(config)
  model = models.build_model(config.model, info)
  shape = (2, 5) if info["vocab_size"] else (2, 5, info["feature_dim"])
  if config.data.max_word_chars:
    shape = (2, 5, 1 + config.data.max_word_chars)  # the word id, then its characters
  inputs = np.ones(shape, np.int32 if info["vocab_size"] else np.float32)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), inputs, np.array([5, 2])))
  assert variables["params"]
  if variant:
    assert config.total_steps <= 10


def test_ud_char_variant_builds_the_character_encoder():
  config = load_config(os.path.join(ROOT, "configs", "ud_pos.py:char,smoke"))
  assert config.data.max_word_chars == 16 and config.model.char_units == 64
  info = {**_info(config), "char_vocab_size": 7}
  model = models.build_model(config.model, info)
  inputs = np.ones((2, 5, 1 + config.data.max_word_chars), np.int32)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), inputs, np.array([5, 2])))
  assert "chars" in variables["params"]["encoder"]


def test_unknown_variant_is_one_clear_error():
  with pytest.raises(ConfigError, match=r"unknown config variant 'fast'; allowed: smoke, fine"):
    load_config(os.path.join(ROOT, "configs", "trec.py:fast"))
