"""The SST tree builder: parsing, SST-1/SST-2 labels, phrases vs sentences, zip or folder."""

import os
import re
import zipfile

import pytest

from bilstm_jax import data
from bilstm_jax.config import ConfigError, load_config
from bilstm_jax.data.builders import sst_trees
from tests.paths import CONFIGS

# Line 2 is blank (skipped, still counted). "lovely film" recurs with another label (and case)
# in line 3 and as the root of line 5; line 4 is a neutral sentence.
TRAIN = ("(3 (2 A) (4 (3 lovely) (2 film)))\n"
         "\n"
         "(1 (1 (1 (2 -LRB-) (1 dull)) (2 -RRB-)) (1 (2 Lovely) (2 film)))\n"
         "(2 (2 A) (2 film))\n"
         "(0 (2 Lovely) (1 film))\n")
DEV = "(3 (3 Great) (2 fun))\n(2 (2 So) (2 so))\n"
TEST = "(0 (0 Awful) (2 .))\n(3 (2 Fine) (2 .))\n"
TREES = {"trees/train.txt": TRAIN, "trees/dev.txt": DEV, "trees/test.txt": TEST}
# Every distinct lowercased phrase of TRAIN with its first label, in order of first occurrence.
PHRASES = [("a lovely film", "3"), ("a", "2"), ("lovely film", "4"), ("lovely", "3"),
           ("film", "2"), ("-lrb- dull -rrb- lovely film", "1"), ("-lrb- dull -rrb-", "1"),
           ("-lrb- dull", "1"), ("-lrb-", "2"), ("dull", "1"), ("-rrb-", "2"), ("a film", "2")]
ROOTS = [("a lovely film", "3"), ("-lrb- dull -rrb- lovely film", "1"), ("a film", "2"),
         ("lovely film", "0")]
SST2 = {"0": "0", "1": "0", "3": "1", "4": "1"}


def write_trees(folder, trees=TREES):
  for name, text in trees.items():
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
  return str(folder)


def write_zip(path, trees=TREES):
  path.parent.mkdir(parents=True, exist_ok=True)
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("trees/", "")  # the treebank's zip lists the folder too
    for name, text in trees.items():
      archive.writestr(name, text)
  return str(path)


def pairs(examples):
  return [(ex.input, ex.label) for ex in examples]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return write_trees(tmp_path_factory.mktemp("extracted"))


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
  return write_zip(tmp_path_factory.mktemp("sst") / sst_trees.ZIP_NAME)


def test_parse_hand_tree_words_spans_in_preorder():
  words, spans = sst_trees.parse_tree(TRAIN.splitlines()[2])
  assert words == ["-LRB-", "dull", "-RRB-", "Lovely", "film"]  # as written
  assert spans == [(0, 5, 1), (0, 3, 1), (0, 2, 1), (0, 1, 2), (1, 2, 1), (2, 3, 2), (3, 5, 1),
                   (3, 4, 2), (4, 5, 2)]
  # Only spaces separate pieces: the treebank's "2 1/2" (a no-break space) stays one word.
  assert sst_trees.parse_tree("(3  (2 2\xa01\\/2)\t(2 hours) )")[0] == ["2\xa01\\/2", "hours"]


@pytest.mark.parametrize("line, expected", [
    ("(3 (2 A) (4 lovely film))", "expected ')' after the word 'lovely', found 'film'"),
    ("(3 (2 A) (4 (3 lovely) (2 film))", "expected '(' for another child or ')', found the end"),
    ("(7 (2 A) (2 film))", "expected a label 0-4 after '(', found '7'"),
    ("(2 (2 A) (2 film)) (2 b)", "expected the end of the line after the tree, found '('"),
    ("(2 (2 A) film)", "expected '(' for another child or ')', found 'film'"),
    ("(2 )", "expected a word or '(' after the label, found ')'"),
    ("2 A", "expected '(' to open a node, found '2'"),
])
def test_parse_errors_say_what_was_expected(line, expected):
  with pytest.raises(sst_trees.TreeError, match="^" + re.escape(expected)):
    sst_trees.parse_tree(line)


def test_phrases_deduplicated_first_label_wins_sentences_kept(folder, cache):
  sst1 = sst_trees.read_sst_trees(folder, cache, 5, phrases=True)
  assert pairs(sst1["train"]) == PHRASES  # "lovely film": 4 (line 1), not 1 or the root's 0
  assert sst1["train"][5].where == os.path.join(folder, "trees/train.txt") + ":3"
  roots = sst_trees.read_sst_trees(folder, cache, 5, phrases=False)
  assert pairs(roots["train"]) == ROOTS  # every sentence, as often as it occurs
  assert [ex.where.rsplit(":", 1)[1] for ex in roots["train"]] == ["1", "3", "4", "5"]
  # Dev and test are the sentences only, either way; no dev phrase reaches training.
  for splits in (sst1, roots):
    assert pairs(splits["val"]) == [("great fun", "3"), ("so so", "2")]
    assert pairs(splits["test"]) == [("awful .", "0"), ("fine .", "3")]
  assert "great" not in {text for text, _ in PHRASES}


def test_sst2_drops_neutral_and_maps_negative_positive(folder, cache):
  phrases = sst_trees.read_sst_trees(folder, cache, 2, phrases=True)
  assert pairs(phrases["train"]) == [(t, SST2[y]) for t, y in PHRASES if y != "2"]
  assert len(phrases["train"]) == 7
  roots = sst_trees.read_sst_trees(folder, cache, 2, phrases=False)
  assert pairs(roots["train"]) == [("a lovely film", "1"), ("-lrb- dull -rrb- lovely film", "0"),
                                   ("lovely film", "0")]
  assert pairs(roots["val"]) == [("great fun", "1")]
  assert pairs(roots["test"]) == [("awful .", "0"), ("fine .", "1")]


def test_zip_folder_holding_it_and_extracted_folder_agree(folder, zip_path, cache):
  extracted = sst_trees.read_sst_trees(folder, cache, 5, phrases=True)
  for source in (zip_path, os.path.dirname(zip_path)):
    zipped = sst_trees.read_sst_trees(source, cache, 5, phrases=True)
    for split, examples in extracted.items():
      assert pairs(zipped[split]) == pairs(examples)
      assert ([ex.where.rsplit("/trees/", 1)[1] for ex in zipped[split]]
              == [ex.where.rsplit("/trees/", 1)[1] for ex in examples])
  assert zipped["val"][1].where == zip_path + "/trees/dev.txt:2"


def test_bad_tree_line_names_file_and_line(tmp_path, cache):
  trees = dict(TREES, **{"trees/train.txt": "(3 (2 A) (2 b))\n(3 (2 A) (4 lovely film))\n"})
  with pytest.raises(ConfigError, match=r"sst\.zip/trees/train\.txt:2: not a tree: expected "
                     r"'\)' after the word 'lovely', found 'film' \(a node is"):
    sst_trees.read_sst_trees(write_zip(tmp_path / "sst.zip", trees), cache, 5, True)


def test_bad_classes_and_sources_are_config_errors(tmp_path, folder, cache):
  with pytest.raises(ConfigError, match=r"data\.sst_classes=3: allowed: 2 .*, 5 "):
    sst_trees.read_sst_trees(folder, cache, 3, True)
  with pytest.raises(ConfigError, match="found neither trainDevTestTrees_PTB.zip nor trees/"):
    sst_trees.read_sst_trees(str(tmp_path), cache, 2, True)
  partial = write_zip(tmp_path / "partial.zip", {"trees/train.txt": TRAIN})
  with pytest.raises(ConfigError, match="partial.zip lacks trees/dev.txt, trees/test.txt"):
    sst_trees.read_sst_trees(partial, cache, 2, True)


def test_get_datasets_with_the_sst2_config(folder, cache):
  config = load_config(os.path.join(CONFIGS, "sst2.py"))
  config.unlock()
  config.data.format = "sst_trees"
  config.data.source_dir = folder
  config.data.cache_dir = cache
  splits, info = data.get_datasets(config.data)
  assert {split: len(ds) for split, ds in splits.items()} == {"train": 7, "val": 1, "test": 2}
  assert info["label_names"] == ["0", "1"] and splits["test"].labels.tolist() == [0, 1]
  config.data.sst_classes, config.data.sst_phrases = 5, False
  splits, info = data.get_datasets(config.data)
  assert {split: len(ds) for split, ds in splits.items()} == {"train": 4, "val": 2, "test": 2}
  config.data.train_files = "trees/train.txt"
  with pytest.raises(ConfigError, match="data.format=sst_trees reads the treebank's"):
    data.get_datasets(config.data)
