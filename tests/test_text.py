"""Text tasks end to end: splits, vocabularies in the workdir, label errors, the TFDS catalog."""

import json
import os
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data import catalog, text, vocab, word_dropout
from tests.paths import CONFIGS_COMMON as common


def write(path, text_):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text_)
  return str(path)


def data_cfg(cache, **overrides):
  cfg = common.base_config().data
  cfg.name = "text"
  cfg.cache_dir = str(cache)
  for key, value in overrides.items():
    cfg[key] = value
  return cfg


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def sst(tmp_path_factory):
  folder = tmp_path_factory.mktemp("sst")
  write(folder / "train", "1 A fine fine film\n0 a dull film\n1 fine\n")
  write(folder / "dev", "0 dull dull\n")
  write(folder / "test", "1 an unseen word film\n")
  return folder


def sst_cfg(cache, folder, **overrides):
  return data_cfg(cache, task="classification", format="label_sentence",
                  source_dir=str(folder), **overrides)


def test_vocab_from_train_only_saved_and_reused(tmp_path, cache, sst):
  workdir = str(tmp_path / "run")
  splits, info = text.load_text_task(sst_cfg(cache, sst), workdir)
  with open(os.path.join(workdir, "vocab.json")) as f:
    names = json.load(f)["names"]
  assert names == ["<pad>", "<unk>", "fine", "a", "film", "dull"]  # by count, then by token
  assert info.pop("token_counts").tolist() == [0, 0, 3, 2, 2, 1]  # training counts per id
  assert info == {"task": "classification", "vocab_size": 6, "feature_dim": None,
                  "num_classes": 2, "label_names": ["0", "1"], "scheme": None,
                  "pad_id": 0, "oov_id": 1, "char_vocab_size": None,
                  "token_names": names, "feature_vocab_sizes": None}
  assert splits["train"].inputs[0].tolist() == [3, 2, 2, 4]  # lowercased
  assert splits["test"].inputs[0].tolist() == [1, 1, 1, 4]  # test-only words are OOV
  assert splits["train"].labels.tolist() == [1, 0, 1]
  # A resumed run reuses the saved ids even though train now has a new frequent word.
  changed = tmp_path / "changed"
  write(changed / "train", "1 zebra zebra zebra\n0 a dull film\n")
  write(changed / "test", "1 zebra\n")
  splits, info = text.load_text_task(sst_cfg(cache, changed), workdir)
  assert info["vocab_size"] == 6 and splits["test"].inputs[0].tolist() == [1]
  with pytest.raises(ConfigError, match="lowercase=True but config key data.lowercase=False"):
    text.load_text_task(sst_cfg(cache, sst, lowercase=False), workdir)


def test_max_vocab_min_count_and_max_tokens(cache, sst):
  splits, info = text.load_text_task(sst_cfg(cache, sst, max_vocab=4, max_tokens=2), None)
  assert info["vocab_size"] == 4  # pad, oov, fine, a
  assert [x.tolist() for x in splits["train"].inputs] == [[3, 2], [3, 1], [2]]
  _, info = text.load_text_task(sst_cfg(cache, sst, min_count=2), None)
  assert info["vocab_size"] == 5  # 'dull' occurs once


def test_unseen_label_error_or_oov(tmp_path, cache):
  folder = tmp_path / "sst"
  write(folder / "train", "1 good\n0 bad\n")
  write(folder / "dev", "0 bad\n")
  write(folder / "test", "1 good\n4 great\n")
  with pytest.raises(ConfigError, match=r"label '4' of the 'test' split \(.*test:2\)"):
    text.load_text_task(sst_cfg(cache, folder), None)
  splits, info = text.load_text_task(sst_cfg(cache, folder, unseen_label="oov"), None)
  assert info["label_names"] == ["0", "1", "<unk>"] and info["num_classes"] == 3
  assert splits["test"].labels.tolist() == [1, 2]
  with pytest.raises(ConfigError, match="data.unseen_label='skip'"):
    text.load_text_task(sst_cfg(cache, folder, unseen_label="skip"), None)


def test_tagging_task_conll_is_bio_and_task_must_match(tmp_path, cache):
  write(tmp_path / "train.txt", "EU I-ORG\nrejects O\n\nPeter I-PER\n")
  write(tmp_path / "dev.txt", "Peter I-PER\n")
  write(tmp_path / "test.txt", "Paris B-LOC\n")
  cfg = data_cfg(cache, task="tagging", format="conll", source_dir=str(tmp_path),
                 label_column="-1", unseen_label="oov")
  splits, info = text.load_text_task(cfg, str(tmp_path / "run"))
  assert info["scheme"] == "bio" and info["task"] == "tagging"
  assert info["label_names"] == ["B-ORG", "B-PER", "O", "<unk>"]
  assert splits["train"].labels[0].tolist() == [0, 2]  # IOB1 I-ORG starts a span: B-ORG
  assert splits["test"].labels[0].tolist() == [3]
  cfg.task = "classification"
  with pytest.raises(ConfigError, match="data.task='classification'.*tagging"):
    text.load_text_task(cfg, None)


def test_polarity_folds_cover_every_line_once(tmp_path, cache):
  lines = {"pos": [f"p{i}" for i in range(13)], "neg": [f"n{i}" for i in range(11)]}
  for label, sentences_ in lines.items():
    write(tmp_path / f"rt-polarity.{label}", "\n".join(sentences_) + "\n")
  everything = sorted(lines["pos"] + lines["neg"])
  tested = []
  for fold in range(5):
    cfg = data_cfg(cache, task="classification", format="polarity", source_dir=str(tmp_path),
                   num_folds=5, fold=fold, val_fraction=0.25)
    raw, _ = text.read_examples(cfg)
    split = {name: [ex.input for ex in exs] for name, exs in text.make_splits(raw, cfg).items()}
    assert sorted(split["train"] + split["val"] + split["test"]) == everything
    assert len(split["test"]) in (4, 5) and len(split["val"]) == 5
    tested += split["test"]
  assert sorted(tested) == everything
  splits, info = text.load_text_task(cfg, None)
  assert info["label_names"] == ["neg", "pos"]
  assert [len(splits[s]) for s in ("train", "val", "test")] == [15, 5, 4]  # fold 4 of 24


def test_fold_split_and_carve_are_deterministic_partitions():
  items = list(range(50))
  tests = []
  for fold in range(10):
    split = text.fold_split(items, 10, fold, 0.1)
    assert sorted(split["train"] + split["val"] + split["test"]) == items
    assert split == text.fold_split(items, 10, fold, 0.1)
    tests += split["test"]
  assert sorted(tests) == items
  rest, carved = text.carve(items, 0.2)
  assert len(carved) == 10 and sorted(rest + carved) == items and rest == sorted(rest)
  with pytest.raises(ConfigError, match="data.num_folds=10, data.fold=10"):
    text.fold_split(items, 10, 10, 0.1)


def test_word_dropout_never_touches_padding():
  tokens_BxT = np.array([[5, 6, 7, 0], [8, 0, 0, 0]], np.int32)
  lengths = np.array([3, 1], np.int32)
  rng = np.random.default_rng(0)
  dropped = word_dropout.word_dropout(tokens_BxT, lengths, 1.0, rng, vocab.OOV_ID)
  assert dropped.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]] and dropped.dtype == np.int32
  assert word_dropout.word_dropout(tokens_BxT, lengths, 0.0, rng).tolist() == tokens_BxT.tolist()
  half = word_dropout.word_dropout(np.full((64, 32), 9, np.int32), np.full(64, 16), 0.5, rng)
  assert (half[:, 16:] == 9).all() and 0.4 < (half[:, :16] == 1).mean() < 0.6


def test_frequency_aware_word_dropout_drops_rare_words_most():
  counts = np.zeros(10, np.int64)
  counts[5], counts[6] = 1, 999  # a singleton and a frequent word
  tokens_BxT = np.tile(np.array([5, 6], np.int32), (2000, 8))
  lengths = np.full(2000, 16)
  rng = np.random.default_rng(0)
  dropped = word_dropout.word_dropout(tokens_BxT, lengths, 0.0, rng, vocab.OOV_ID, 1.0, counts)
  singleton, frequent = (dropped[:, 0::2] == 1).mean(), (dropped[:, 1::2] == 1).mean()
  assert abs(singleton - 0.5) < 0.02 and frequent < 0.004  # alpha / (alpha + count)
  # With a uniform rate too, a token stays only when neither drop draws it.
  both = word_dropout.word_dropout(tokens_BxT, lengths, 0.5, rng, vocab.OOV_ID, 1.0, counts)
  assert abs((both[:, 0::2] == 1).mean() - 0.75) < 0.02
  assert abs((both[:, 1::2] == 1).mean() - (1 - 0.5 * 0.999)) < 0.02
  # Character input: only the word id column is dropped, the spelling stays.
  with_chars = np.stack([tokens_BxT, np.full_like(tokens_BxT, 7)], axis=-1)
  dropped = word_dropout.word_dropout(with_chars, lengths, 0.0, rng, vocab.OOV_ID, 1.0, counts)
  assert (dropped[..., 1] == 7).all() and 0.45 < (dropped[:, 0::2, 0] == 1).mean() < 0.55


@pytest.mark.parametrize("key, overrides", [("data.word_dropout", {"word_dropout": 1.0}),
                                            ("data.word_dropout_alpha",
                                             {"word_dropout_alpha": -0.5})])
def test_word_dropout_settings_out_of_range_name_the_key(tmp_path, cache, sst, key, overrides):
  with pytest.raises(ConfigError, match=f"config key {key} must be"):
    text.load_text_task(sst_cfg(cache, sst, **overrides), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()  # refused before the vocabulary is written


# The TFDS catalog, mocked: metadata (features, split names) is written into a tmp data_dir
# from the installed builder code, and mock_data serves random examples for it.
CATALOG = [
    # name, split sizes, overrides, task
    ("trec", {"train": 40, "test": 10}, {"text_field": "text", "label_field": "label-coarse"},
     "classification"),
    ("glue/sst2", {"train": 40, "validation": 10, "test": 10},
     {"text_field": "sentence", "label_field": "label"}, "classification"),
    ("imdb_reviews", {"train": 40, "test": 10, "unsupervised": 10},
     {"text_field": "text", "label_field": "label"}, "classification"),
    ("universal_dependencies/en_ewt", {"train": 40, "dev": 10, "test": 10},
     {"text_field": "tokens", "label_field": "upos"}, "tagging"),
]
NUM_MOCK_EXAMPLES = 40


def write_metadata(data_dir: str, name: str, split_sizes: dict) -> None:
  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=split, shard_lengths=[n], num_bytes=0)
      for split, n in split_sizes.items()]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


def aligned_examples(self, split, **kwargs):
  """mock_data's random examples, with every sequence 10 long (tokens and tags align) and
  GLUE's test labels hidden (-1) as in the real data."""
  del kwargs
  features = self.info.features
  generator = tfds.testing.mocking.RandomFakeGenerator(
      features, NUM_MOCK_EXAMPLES, constant_dynamic_shape=True)

  def examples():
    for ex in generator:
      if self.name == "glue" and split == "test":
        ex = {**ex, "label": np.int64(-1)}
      yield ex

  specs = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.tf_dtype),
                                features.get_tensor_info())
  return tf.data.Dataset.from_generator(examples, output_signature=specs)


@pytest.mark.parametrize("name,split_sizes,overrides,task", CATALOG,
                         ids=[c[0] for c in CATALOG])
def test_catalog_with_mock_data(tmp_path, name, split_sizes, overrides, task):
  write_metadata(str(tmp_path / "tfds"), name, split_sizes)
  cfg = data_cfg(tmp_path, task=task, tfds_name=name, tfds_data_dir=str(tmp_path / "tfds"),
                 **overrides)
  with tfds.testing.mock_data(num_examples=NUM_MOCK_EXAMPLES, data_dir=str(tmp_path / "tfds"),
                              policy=tfds.testing.MockPolicy.USE_FILES,
                              as_dataset_fn=aligned_examples):
    splits, info = text.load_text_task(cfg, str(tmp_path / "run"))
  assert info["task"] == task and info["vocab_size"] > 2
  assert os.path.exists(tmp_path / "run" / "labels.json")
  for ds in splits.values():
    assert len(ds) > 0 and all(x.dtype == np.int32 and x.ndim == 1 for x in ds.inputs)
    assert ds.is_tagging == (task == "tagging")
    labels = np.concatenate(ds.labels) if ds.is_tagging else ds.labels
    assert labels.min() >= 0 and labels.max() < info["num_classes"]
  if name in ("trec", "imdb_reviews", "glue/sst2"):  # val carved from train
    assert len(splits["train"]) + len(splits["val"]) == NUM_MOCK_EXAMPLES
  if task == "tagging":
    assert "_" not in info["label_names"]  # multiword-token rows dropped
    train = splits["train"]
    assert all(len(x) == len(y) for x, y in zip(train.inputs, train.labels, strict=True))


def test_catalog_unknown_field_lists_the_features(tmp_path):
  write_metadata(str(tmp_path), "trec", {"train": 4, "test": 4})
  cfg = data_cfg(tmp_path, task="classification", tfds_name="trec", tfds_data_dir=str(tmp_path))
  with (tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path),
                               policy=tfds.testing.MockPolicy.USE_FILES),
        pytest.raises(ConfigError, match="data.label_field='label'.*label-coarse, label-fine")):
    text.load_text_task(cfg, None)


def test_catalog_without_network_fails_fast_with_instructions(tmp_path, monkeypatch):
  def no_network(*args, **kwargs):
    raise OSError("no network in this test")

  def never(*args, **kwargs):
    raise AssertionError("download_and_prepare must not be tried")

  monkeypatch.setattr(catalog.socket, "create_connection", no_network)
  monkeypatch.setattr(catalog, "_download_addresses", lambda builder: [("dataset.host", 80)])
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", never)
  cfg = data_cfg(tmp_path, task="classification", tfds_name="trec",
                 tfds_data_dir=str(tmp_path / "tfds"), label_field="label-coarse")
  start = time.time()
  with pytest.raises(ConfigError, match=r"not prepared.*tfds build trec --data_dir=.*"
                                        r"data.source_dir=.*data.format=.*dataset.host"):
    text.load_text_task(cfg, None)
  assert time.time() - start < 10


def test_an_empty_split_is_one_clear_error(tmp_path, cache):
  from bilstm_jax import data
  folder = tmp_path / "sst_empty_test"
  write(folder / "train", "1 fine film\n0 dull film\n")
  write(folder / "dev", "0 dull\n")
  write(folder / "test", "")
  with pytest.raises(ConfigError, match=r"'test' split .* is empty|test.*empty"):
    data.get_datasets(sst_cfg(cache, folder), None)


def carved(caplog) -> list[str]:
  """Our data messages (TFDS logs its own warnings, which also name the files)."""
  return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data: ")]


def test_a_carved_dev_split_is_logged_with_its_size_and_source(tmp_path, cache, sst, caplog):
  folder = tmp_path / "no_dev"
  write(folder / "train", "1 a\n0 b\n1 c\n0 d\n1 e\n")
  write(folder / "test", "1 f\n")
  with caplog.at_level("WARNING"):
    splits, _ = text.load_text_task(sst_cfg(cache, folder, val_fraction=0.2), None)
  assert carved(caplog) == [(f"data: {folder} has no validation split to use; carved 1 of the 5 "
                             "examples of the train split as validation "
                             "(data.val_fraction=0.2)")]
  assert len(splits["val"]) == 1
  caplog.clear()
  with caplog.at_level("WARNING"):
    text.load_text_task(sst_cfg(cache, sst), None)  # a dev file: nothing carved, nothing said
  assert carved(caplog) == []
  for label, lines in (("pos", "p1\np2\np3\np4\np5\n"), ("neg", "n1\nn2\nn3\nn4\nn5\n")):
    write(tmp_path / "mr" / f"rt.{label}", lines)
  with caplog.at_level("WARNING"):
    text.load_text_task(data_cfg(cache, task="classification", format="polarity",
                                 source_dir=str(tmp_path / "mr"), num_folds=5, fold=1,
                                 val_fraction=0.25), None)
  assert carved(caplog) == [
      (f"data: {tmp_path / 'mr'} has no splits; fold 1 of 5 (2 examples) is test and 2 of the "
       "other 8 examples are carved from them as validation (data.val_fraction=0.25)")]
