"""Files named in the config: data.train_files/val_files/test_files and data.class_files."""

import os

import pytest

from bilstm_jax.config import ConfigError
from bilstm_jax.data import text
from bilstm_jax.data.builders import conll, conllu, sentences
from tests.paths import CONFIGS_COMMON as common


def write(path, body):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(body)
  return path


def cfg_for(tmp_path, **overrides):
  cfg = common.base_config().data
  cfg.name, cfg.cache_dir, cfg.lowercase = "text", str(tmp_path / "cache"), False
  for key, value in overrides.items():
    cfg[key] = value
  return cfg


def keys(train="", val="", test=""):
  return {"train": train, "val": val, "test": test}


@pytest.fixture
def corpus(tmp_path):
  """CoNLL files under names no folder convention knows: two training parts and a held-out."""
  write(tmp_path / "corpus" / "part-b.conll", "Bonn B-LOC\n\nis O\n")
  write(tmp_path / "corpus" / "part-a.conll", "Anna B-PER\n")
  write(tmp_path / "corpus" / "notes.md", "not data\n")
  write(tmp_path / "heldout.conll", "Rome B-LOC\n")
  return tmp_path


def test_conll_split_globs_concatenate_in_sorted_order(corpus):
  cache = str(corpus / "cache")
  splits = conll.read_conll_folder(
      str(corpus / "corpus"), "-1", cache,
      file_keys=keys(train="part-*.conll", test=str(corpus / "heldout.conll")))
  assert sorted(splits) == ["test", "train"]  # no val: the loader carves it
  assert [ex.input for ex in splits["train"]] == [["Anna"], ["Bonn"], ["is"]]  # a before b
  assert [ex.where.rsplit("/", 1)[1] for ex in splits["train"]] == [
      "part-a.conll:1", "part-b.conll:1", "part-b.conll:3"]
  assert splits["test"][0].where.endswith("heldout.conll:1")
  # A changed file list is a new prepared copy: a file added, or moved to another split.
  one = conll.read_conll_folder(str(corpus / "corpus"), "-1", cache,
                                file_keys=keys(train="part-a.conll", test="../heldout.conll"))
  assert [ex.input for ex in one["train"]] == [["Anna"]]
  swapped = conll.read_conll_folder(str(corpus / "corpus"), "-1", cache,
                                    file_keys=keys(train="../heldout.conll", test="part-a.conll"))
  assert swapped["train"][0].input == ["Rome"] and swapped["test"][0].input == ["Anna"]


def test_text_task_reads_named_files_without_a_folder_convention(corpus):
  cfg = cfg_for(corpus, task="tagging", format="conll", source_dir=str(corpus / "corpus"),
                label_column="-1", train_files="part-a.conll,part-b.conll",
                val_files="part-b.conll", test_files=str(corpus / "heldout.conll"),
                unseen_label="oov")
  with pytest.raises(ConfigError, match="part-b.conll is named by both data.train_files and "
                                        "data.val_files"):
    text.load_text_task(cfg, None)
  cfg.train_files = "part-a.conll"
  splits, info = text.load_text_task(cfg, None)
  assert [len(splits[s]) for s in ("train", "val", "test")] == [1, 2, 1]
  assert info["label_names"] == ["B-PER", "<unk>"]


def test_conllu_and_label_sentence_take_named_files(tmp_path):
  row = "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
  for name in ("a.conllu", "b.conllu", "dev.conllu", "eval.conllu"):
    write(tmp_path / "ud" / name, row)
  splits = conllu.read_conllu_folder(
      str(tmp_path / "ud"), "upos", str(tmp_path / "cache"),
      file_keys=keys(train="[ab].conllu", val="dev.conllu", test="eval.conllu"))
  assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
  assert splits["train"][1].where.endswith("b.conllu:1")
  write(tmp_path / "sst" / "fit.tsv", "1 good\n0 bad\n")
  write(tmp_path / "sst" / "final.tsv", "1 fine\n")
  splits = sentences.read_sentence_folder(
      str(tmp_path / "sst"), "label_sentence", "label", str(tmp_path / "cache"),
      file_keys=keys(train="fit.tsv", test="final.tsv"))
  assert [ex.label for ex in splits["train"]] == ["1", "0"] and len(splits["test"]) == 1


def test_polarity_class_files_name_the_classes(tmp_path):
  write(tmp_path / "mr" / "good-1.txt", "fine\ngreat\n")
  write(tmp_path / "mr" / "good-0.txt", "nice\n")
  write(tmp_path / "mr" / "awful.lines", "bad\n")
  pool = sentences.read_sentence_folder(
      str(tmp_path / "mr"), "polarity", "label", str(tmp_path / "cache"),
      class_files="pos=good-*.txt, neg=awful.lines")[sentences.POLARITY_SPLIT]
  assert [(ex.input, ex.label) for ex in pool] == [
      ("bad", "neg"), ("nice", "pos"), ("fine", "pos"), ("great", "pos")]
  assert pool[1].where.endswith("good-0.txt:1")


@pytest.mark.parametrize("overrides, message", [
    ({"train_files": "part-*.txt", "test_files": "heldout.conll"},
     r"config key data.train_files: 'part-\*.txt' matches no file"),
    ({"train_files": "part-a.conll"},
     "config keys data.train_files and data.test_files are both needed"),
    ({"test_files": "part-a.conll", "val_files": "part-b.conll"},
     "config keys data.train_files and data.test_files are both needed"),
    ({"train_files": "part-a.conll,", "test_files": "x"},
     "config key data.train_files='part-a.conll,' has an empty item"),
    ({"class_files": "pos=part-a.conll,neg=part-b.conll"},
     "config key data.class_files is for data.format=polarity; for data.format=conll"),
    ({"source_dir": None, "train_files": "part-a.conll", "test_files": "part-b.conll"},
     "data.train_files: 'part-a.conll' is relative but data.source_dir is not set"),
])
def test_bad_split_file_keys_are_one_clear_error(corpus, overrides, message):
  overrides = {"source_dir": str(corpus / "corpus"), **overrides}
  cfg = cfg_for(corpus, task="tagging", format="conll", label_column="-1", **overrides)
  with pytest.raises(ConfigError, match=message):
    text.load_text_task(cfg, None)


@pytest.mark.parametrize("overrides, message", [
    ({"class_files": "pos=good.txt,neg=missing*.txt"},
     r"config key data.class_files: 'missing\*.txt' matches no file"),
    ({"class_files": "pos=good.txt"}, "data.class_files='pos=good.txt' names 1 class"),
    ({"class_files": "pos=good.txt,bad.txt"},
     "data.class_files: 'bad.txt' is not <class>=<file or glob>; expected e.g. 'pos="),
    ({"class_files": "pos=good.txt,neg=good.txt"},
     "good.txt is named by both class 'pos' of data.class_files and class 'neg'"),
    ({"train_files": "good.txt", "test_files": "bad.txt"},
     "data.format=polarity reads one file per class: set data.class_files"),
])
def test_bad_class_files_are_one_clear_error(tmp_path, overrides, message):
  write(tmp_path / "good.txt", "fine\n")
  write(tmp_path / "bad.txt", "awful\n")
  cfg = cfg_for(tmp_path, task="classification", format="polarity", source_dir=str(tmp_path),
                **overrides)
  with pytest.raises(ConfigError, match=message):
    text.load_text_task(cfg, None)


def test_absolute_files_need_no_source_dir(corpus):
  cfg = cfg_for(corpus, task="tagging", format="conll", label_column="-1", unseen_label="oov",
                train_files=os.path.join(corpus, "corpus", "part-*.conll"),
                test_files=str(corpus / "heldout.conll"))
  assert cfg.source_dir is None and cfg.tfds_name is None  # not the catalog: the files
  splits, _ = text.load_text_task(cfg, None)
  assert len(splits["train"]) + len(splits["val"]) == 3
