"""Character input and the character-level word encoder: data layout, float64 reference, errors."""

import json
import os

import jax
import numpy as np
import pytest

from bilstm_jax import models
from bilstm_jax.config import ConfigError
from bilstm_jax.data import chars, text, vocab, word_dropout
from tests import reference
from tests.paths import CONFIGS_COMMON as common


def test_clip_word_keeps_prefix_and_suffix():
  assert chars.clip_word("cat", 4) == "cat"
  assert chars.clip_word("unbelievably", 5) == "unbly"  # 3 first + 2 last
  assert chars.clip_word("unbelievably", 4) == "unly"
  assert len(chars.clip_word("x" * 50, 7)) == 7


def test_char_vocab_from_train_and_unseen_chars_are_oov():
  names = chars.build_char_vocab([["aab", "b"], ["ba"]])
  assert names == ["<pad>", "<unk>", "a", "b"]  # by count, ties by character
  index = {ch: i for i, ch in enumerate(names)}
  np.testing.assert_array_equal(chars.encode_chars(["ab", "z", "bbbbb"], index, 3),
                                [[2, 3, 0], [1, 0, 0], [3, 3, 3]])


def _conll(folder):
  for split, body in (("train", "The DET\ncat NOUN\n\nA DET\ndog NOUN\nsat VERB\n"),
                      ("dev", "The DET\ndog NOUN\n"), ("test", "Zebra NOUN\nsat VERB\n")):
    (folder / f"{split}.txt").write_text(body)
  cfg = common.base_config().data
  cfg.name, cfg.task, cfg.format, cfg.source_dir = "text", "tagging", "conll", str(folder)
  cfg.label_column, cfg.lowercase, cfg.cache_dir = "-1", False, str(folder / "cache")
  return cfg


def test_text_task_with_chars_feeds_word_id_then_characters(tmp_path):
  cfg = _conll(tmp_path)
  cfg.max_word_chars = 4
  workdir = str(tmp_path / "run")
  splits, info = text.load_text_task(cfg, workdir)
  with open(os.path.join(workdir, chars.CHARS_FILE)) as f:
    char_names = json.load(f)["names"]
  index = {ch: i for i, ch in enumerate(char_names)}
  assert info["char_vocab_size"] == len(char_names) and "Z" not in index
  test_x = splits["test"].inputs[0]
  assert test_x.shape == (2, 5) and test_x.dtype == np.int32
  assert test_x[0, 0] == vocab.OOV_ID  # "Zebra" is not a training word ...
  # ... but its spelling is there, clipped to "Ze" + "ra"; "Z" and "r" never occur in training.
  assert test_x[0, 1:].tolist() == [chars.OOV_ID, index["e"], chars.OOV_ID, index["a"]]
  assert splits["test"].lengths.tolist() == [2]
  cfg.max_word_chars = -1
  with pytest.raises(ConfigError, match="data.max_word_chars must be 0"):
    text.load_text_task(cfg, None)


@pytest.mark.parametrize("keep_case", [False, True])
def test_lowercased_words_spell_their_characters_as_written_with_chars_keep_case(tmp_path,
                                                                               keep_case):
  cfg = _conll(tmp_path)
  cfg.max_word_chars, cfg.lowercase, cfg.chars_keep_case = 4, True, keep_case
  splits, info = text.load_text_task(cfg, str(tmp_path / "run"))
  token_index = {t: i for i, t in enumerate(info["token_names"])}
  assert "The" not in token_index and "the" in token_index  # the words are lowercased either way
  with open(tmp_path / "run" / chars.CHARS_FILE) as f:
    saved = json.load(f)
  char_index = {ch: i for i, ch in enumerate(saved["names"])}
  assert saved["settings"]["lowercase"] is not keep_case
  assert ("T" in char_index) is keep_case and ("A" in char_index) is keep_case
  the_row = splits["val"].inputs[0][0]  # "The" in the dev split
  assert the_row[0] == token_index["the"]
  spelled = "The" if keep_case else "the"
  assert the_row[1:].tolist() == [char_index[ch] for ch in spelled] + [chars.PAD_ID]


def test_word_dropout_with_chars_drops_word_ids_only():
  rng = np.random.default_rng(0)
  inputs = rng.integers(2, 9, size=(4, 5, 3)).astype(np.int32)
  lengths = np.array([5, 3, 1, 0])
  dropped = word_dropout.word_dropout(inputs, lengths, 1.0, rng)
  valid = np.arange(5)[None, :] < lengths[:, None]
  np.testing.assert_array_equal(dropped[..., 0], np.where(valid, vocab.OOV_ID, inputs[..., 0]))
  np.testing.assert_array_equal(dropped[..., 1:], inputs[..., 1:])


def _char_model_cfg(**changes):
  cfg = common.base_config().model
  cfg.embed_dim, cfg.units, cfg.char_units, cfg.char_embed_dim = 5, 4, 3, 6
  for k, v in changes.items():
    cfg[k] = v
  return cfg


def test_char_encoder_matches_float64_reference_per_word(key):
  """Every word's vector = [fwd final, bwd final] of a numpy LSTM over its own characters."""
  rng = np.random.default_rng(1)
  B, T, W = 3, 5, 7
  char_lengths = rng.integers(1, W + 1, size=(B, T))
  char_ids = rng.integers(2, 12, size=(B, T, W)) * (np.arange(W) < char_lengths[..., None])
  lengths = np.array([5, 2, 0], np.int32)
  char_ids = char_ids * (np.arange(T)[None, :, None] < lengths[:, None, None])  # pad words
  inputs = np.concatenate([rng.integers(2, 9, size=(B, T, 1)), char_ids], -1).astype(np.int32)
  info = {"task": "tagging", "vocab_size": 10, "num_classes": 3, "char_vocab_size": 12}
  model = models.build_model(_char_model_cfg(), info)
  params = model.init(key, inputs, lengths)["params"]
  bound = model.bind({"params": params})
  got = np.asarray(bound.encoder.chars(inputs[..., 1:], train=False))
  table = np.asarray(params["encoder"]["chars"]["embed"]["embedding"], np.float64)
  core = params["encoder"]["chars"]["lstm"]["lstm"]
  for b in range(B):
    for t in range(T):
      n = int((char_ids[b, t] > 0).sum())
      x = table[char_ids[b, t]][None]
      _, h, _ = reference.ours(core, x, np.array([n]))
      np.testing.assert_allclose(got[b, t], np.concatenate([h[0, 0, 0], h[0, 1, 0]]),
                                 atol=1e-5, rtol=1e-5)
      if n == 0:
        np.testing.assert_array_equal(got[b, t], 0.0)
  logits = model.apply({"params": params}, inputs, lengths, train=True,
                       rngs={"dropout": key})
  assert logits.shape == (B, T, 3) and np.all(np.isfinite(logits))
  grads = jax.grad(lambda p: model.apply({"params": p}, inputs, lengths).sum())(params)
  assert np.abs(np.asarray(grads["encoder"]["chars"]["embed"]["embedding"])).sum() > 0


def test_char_settings_must_agree_with_the_data():
  words_only = {"task": "tagging", "vocab_size": 10, "num_classes": 3, "char_vocab_size": None}
  with pytest.raises(ConfigError, match="model.char_units=3 needs character input"):
    models.build_model(_char_model_cfg(), words_only)
  with pytest.raises(ConfigError, match="model.char_units=0"):
    models.build_model(_char_model_cfg(char_units=0), {**words_only, "char_vocab_size": 9})
  with pytest.raises(ConfigError, match="model.char_units must be 0"):
    models.build_model(_char_model_cfg(char_units=-2), words_only)


def test_training_with_the_character_encoder_end_to_end(tmp_path):
  from bilstm_jax.config import apply_overrides, load_config  # pylint: disable=import-outside-toplevel
  from bilstm_jax.training import train  # pylint: disable=import-outside-toplevel
  data_cfg = _conll(tmp_path)
  config = load_config(os.path.join(os.path.dirname(__file__), os.pardir, "configs",
                                    "conll_ner.py:smoke"))
  apply_overrides(config, {
      "data.source_dir": data_cfg.source_dir, "data.cache_dir": data_cfg.cache_dir,
      "data.label_column": "-1", "data.unseen_label": "oov", "data.max_word_chars": 6,
      "data.word_dropout": 0.5, "model.char_units": 4, "wandb.mode": "disabled",
      "eval_metric": "val/accuracy"})
  workdir = str(tmp_path / "run")
  results = train.train_and_evaluate(config, workdir)
  assert os.path.exists(os.path.join(workdir, chars.CHARS_FILE))
  assert np.isfinite(results["test/loss"]) and results["final_step"] == config.total_steps
