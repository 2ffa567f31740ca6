"""Token features (data.feature_columns): ids in the batches, the embeddings, clear errors."""

import json
import os

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from bilstm_jax import models
from bilstm_jax.config import ConfigError, load_config
from bilstm_jax.data import batching, text, token_features, vocab, word_dropout
from bilstm_jax.training.state import params_sha256
from tests.paths import CONFIGS
from tests.paths import CONFIGS_COMMON as common
from tests.test_text import NUM_MOCK_EXAMPLES, aligned_examples, write_metadata

# word POS chunk NER (IOB1 as in the original CoNLL-2003 files)
TRAIN = ("EU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\ncall NN I-NP O\n\n"
         "Peter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n")
DEV = "Paris NNP B-NP I-LOC\nsings VBD B-VP O\n"
TEST = "Rome NNP B-NP I-LOC\n"
# POS ids by training count, ties by value: NNP 3x, then JJ, NN, VBZ once each.
POS = ["<pad>", "<unk>", "NNP", "JJ", "NN", "VBZ"]
CHUNK = ["<pad>", "<unk>", "B-NP", "I-NP", "B-VP"]


def conll_cfg(folder, **overrides):
  for name, body in (("train.txt", TRAIN), ("dev.txt", DEV), ("test.txt", TEST)):
    (folder / name).write_text(body)
  cfg = common.base_config().data
  cfg.name, cfg.task, cfg.format, cfg.source_dir = "text", "tagging", "conll", str(folder)
  cfg.label_column, cfg.lowercase, cfg.unseen_label = "-1", False, "oov"
  cfg.cache_dir = str(folder / "cache")
  for key, value in overrides.items():
    cfg[key] = value
  return cfg


def model_cfg(**changes):
  cfg = common.base_config().model
  cfg.embed_dim, cfg.units = 6, 5
  for key, value in changes.items():
    cfg[key] = value
  return cfg


def test_pos_column_ids_reach_the_batch_and_are_saved_with_the_vocab(tmp_path):
  cfg = conll_cfg(tmp_path, feature_columns="1")
  workdir = str(tmp_path / "run")
  splits, info = text.load_text_task(cfg, workdir)
  assert info["feature_vocab_sizes"] == [len(POS)]
  with open(os.path.join(workdir, token_features.FEATURES_FILE)) as f:
    assert json.load(f) == {"settings": {"feature_columns": "1"}, "names": [POS]}
  batch = next(batching.eval_batches(splits["train"], batch_size=3))
  assert sorted(batch) == ["inputs", "labels", "lengths", "mask"]  # no new key: [word, POS]
  assert batch["inputs"].shape == (3, 4, 2) and batch["inputs"].dtype == np.int32
  # Length order: Peter Blackburn, then EU rejects German call; 0 pads, as for words.
  assert batch["inputs"][..., 1].tolist() == [[2, 2, 0, 0], [2, 5, 3, 4], [0, 0, 0, 0]]
  assert splits["val"].inputs[0][:, 1].tolist() == [2, vocab.OOV_ID]  # VBD: unseen in train
  # Word dropout drops the word id only; the POS stays, as the spelling does.
  dropped = word_dropout.word_dropout(batch["inputs"], batch["lengths"], 1.0,
                                      np.random.default_rng(0))
  assert (dropped[..., 1] == batch["inputs"][..., 1]).all()
  assert (dropped[:2, :2, 0] == vocab.OOV_ID).all()
  # A resumed run keeps the saved ids, even where the training data now counts otherwise.
  changed = tmp_path / "changed"
  changed.mkdir()
  cfg2 = conll_cfg(changed, feature_columns="1")
  (changed / "train.txt").write_text("a VBZ B-NP O\nb VBZ B-NP O\nc JJ B-NP O\n")
  splits, _ = text.load_text_task(cfg2, workdir)
  assert splits["train"].inputs[0][:, 1].tolist() == [5, 5, 3]
  cfg2.feature_columns = "1,2"
  with pytest.raises(ConfigError, match="feature_columns='1' but config key "
                                        "data.feature_columns='1,2'"):
    text.load_text_task(cfg2, workdir)


def test_two_feature_columns_sit_between_the_word_and_its_characters(tmp_path):
  cfg = conll_cfg(tmp_path, feature_columns="1,2", max_word_chars=3)
  splits, info = text.load_text_task(cfg, None)
  assert info["feature_vocab_sizes"] == [len(POS), len(CHUNK)]
  x = splits["train"].inputs[1]  # Peter Blackburn
  assert x.shape == (2, 1 + 2 + 3)
  assert x[:, 1].tolist() == [2, 2] and x[:, 2].tolist() == [2, 3]  # NNP NNP, B-NP I-NP
  assert (x[:, 3:] > 0).all()  # the characters, after the features


def test_default_adds_no_batch_key_and_no_parameter(tmp_path):
  splits, info = text.load_text_task(conll_cfg(tmp_path), str(tmp_path / "run"))
  assert info["feature_vocab_sizes"] is None
  assert not os.path.exists(tmp_path / "run" / token_features.FEATURES_FILE)
  batch = next(batching.eval_batches(splits["train"], batch_size=2))
  assert sorted(batch) == ["inputs", "labels", "lengths", "mask"] and batch["inputs"].ndim == 2
  plain = {k: v for k, v in info.items() if k != "feature_vocab_sizes"}
  hashes = set()
  for model_info, feature_dim in ((plain, 20), (info, 20), (info, 7)):
    model = models.build_model(model_cfg(feature_embed_dim=feature_dim), model_info)
    params = model.init(jax.random.PRNGKey(0), batch["inputs"], batch["lengths"])["params"]
    assert sorted(params["encoder"]) == ["embed", "lstm"]
    hashes.add(params_sha256(params))
  assert len(hashes) == 1  # model.feature_embed_dim is not even read without features


def test_model_embeds_each_feature_column_and_its_output_follows_them(key):
  info = {"task": "tagging", "vocab_size": 10, "num_classes": 3, "feature_vocab_sizes": [6, 4]}
  model = models.build_model(model_cfg(feature_embed_dim=3), info)
  inputs = np.array([[[2, 3, 1], [4, 2, 2], [5, 5, 3]]], np.int32)  # [B=1, T=3, 1 + F]
  lengths = np.array([3], np.int32)
  params = model.init(key, inputs, lengths)["params"]
  encoder = params["encoder"]
  assert encoder["feature_embed_0"]["embedding"].shape == (6, 3)
  assert encoder["feature_embed_1"]["embedding"].shape == (4, 3)
  assert encoder["lstm"]["lstm"]["layers"][0]["w_ih"].shape[1] == 6 + 3 + 3  # word + two features
  logits = model.apply({"params": params}, inputs, lengths)
  for column in (1, 2):
    changed = inputs.copy()
    changed[0, 1, column] = 1
    assert not np.allclose(model.apply({"params": params}, changed, lengths), logits)
  with pytest.raises(ConfigError, match="model.feature_embed_dim must be a positive integer"):
    models.build_model(model_cfg(feature_embed_dim=0), info)


@pytest.mark.parametrize("columns, message", [
    ("5", (r"data.feature_columns='5': .*(train|dev|test)\.txt:1 has 4 columns; allowed "
           r"feature columns: 1, 2 \(0 is the token, 3 the label")),
    ("0", r"data.feature_columns='0': .*\.txt:1 has 4 columns"),
    ("1,3", r"data.feature_columns='1,3': .*\.txt:1 has 4 columns"),  # the label column
    ("pos", r"data.feature_columns='pos': for data.format=conll these are column indices"),
    ("1,,2", r"data.feature_columns='1,,2': expected distinct columns"),
])
def test_a_bad_feature_column_is_one_error_naming_the_key_and_file_line(tmp_path, columns,
                                                                        message):
  with pytest.raises(ConfigError, match=message):
    text.load_text_task(conll_cfg(tmp_path, feature_columns=columns), None)


def test_feature_columns_outside_tagging_files_are_refused(tmp_path):
  ud = tmp_path / "ud"
  ud.mkdir()
  row = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
  for split in ("train", "dev", "test"):
    (ud / f"x-ud-{split}.conllu").write_text(row)
  cfg = conll_cfg(tmp_path, format="conllu", source_dir=str(ud), label_column="upos",
                  feature_columns="xpos")
  splits, info = text.load_text_task(cfg, None)
  assert info["feature_vocab_sizes"] == [3] and splits["test"].inputs[0][:, 1].tolist() == [2]
  cfg.feature_columns = "upos"
  with pytest.raises(ConfigError, match="feature_columns='upos': .*label_column='upos'.*: xpos"):
    text.load_text_task(cfg, None)
  sst = conll_cfg(tmp_path, task="classification", format="label_sentence",
                  feature_columns="1")
  with pytest.raises(ConfigError, match="feature_columns='1' is for token-tagging files"):
    text.load_text_task(sst, None)


def test_catalog_conll2003_takes_token_features_by_name(tmp_path):
  data_dir = str(tmp_path / "tfds")
  write_metadata(data_dir, "conll2003", {"train": 40, "dev": 10, "test": 10})
  cfg = conll_cfg(tmp_path, source_dir=None, tfds_name="conll2003", tfds_data_dir=data_dir,
                  text_field="tokens", label_field="ner", feature_columns="pos")
  with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES, data_dir=data_dir,
                              policy=tfds.testing.MockPolicy.USE_FILES,
                              as_dataset_fn=aligned_examples):
    splits, info = text.load_text_task(cfg, None)
    assert len(info["feature_vocab_sizes"]) == 1
    assert all(x.shape[1] == 2 and (x[:, 1] > 0).all() for x in splits["train"].inputs)
    cfg.feature_columns = "1"
    with pytest.raises(ConfigError, match="feature_columns='1': TFDS dataset 'conll2003' has "
                                          "the token features pos, chunks"):
      text.load_text_task(cfg, None)


def test_conll_ner_pos_variant_reads_the_pos_column(tmp_path):
  config = load_config(os.path.join(CONFIGS, "conll_ner.py:pos,smoke"))
  assert config.data.feature_columns == "1"
  assert load_config(os.path.join(CONFIGS, "conll_ner.py")).data.feature_columns == ""
  cfg = conll_cfg(tmp_path, **{k: config.data[k] for k in ("feature_columns", "label_column",
                                                          "max_word_chars")})
  splits, info = text.load_text_task(cfg, None)
  model = models.build_model(config.model, info)
  batch = next(batching.eval_batches(splits["train"], batch_size=2))
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), batch["inputs"],
                                             batch["lengths"]))["params"]
  assert params["encoder"]["feature_embed_0"]["embedding"].shape == (len(POS), 20)
