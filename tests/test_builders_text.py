"""Local-folder text builders: parsing rules, file:line errors, one prepared copy per folder."""

import gzip
import os
import threading

import pytest

from bilstm_jax.config import ConfigError
from bilstm_jax.data import builders, prepared
from bilstm_jax.data.builders import conll, conllu, prepare_lock, sentences

CONLLU = (
    "# newdoc id = d1\n"
    "# sent_id = 1\n"
    "# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_\n"
    "4.1\tit\tit\tPRON\tPRP\t_\t_\t_\t4:obj\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n"
    "\n"
    "# sent_id = 2\n"
    "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n"  # no final blank line: the last sentence counts
)
CONLL_TRAIN = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP I-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP I-MISC\n"
    "call NN I-NP O\n"
    "\n"
    "Peter NNP B-NP I-PER\n"
    "Blackburn NNP I-NP I-PER\n"
    "\n"
)
CONLL_TEST = "Paris NNP B-NP B-LOC\nrocks VBZ B-VP O\n\n"


def write(path, text, compress=False):
  path.parent.mkdir(parents=True, exist_ok=True)
  data = text.encode("utf-8") if isinstance(text, str) else text
  if compress:
    with gzip.open(path, "wb") as f:
      f.write(data)
  else:
    path.write_bytes(data)
  return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="module")
def ud_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("ud")
  write(folder / "en_x-ud-train.conllu.gz", CONLLU, compress=True)
  write(folder / "en_x-ud-dev.conllu", CONLLU)
  write(folder / "en_x-ud-test.conllu", CONLLU)
  return folder


def test_conllu_gz_skips_comments_multiword_tokens_and_empty_nodes(ud_dir, cache):
  splits = conllu.read_conllu_folder(str(ud_dir), "upos", cache)
  assert sorted(splits) == ["test", "train", "val"]
  first, second = splits["train"]
  assert first.input == ["I", "do", "n't", "know", "."]
  assert first.label == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
  assert first.where.endswith("en_x-ud-train.conllu.gz:4")
  assert second.input == ["Hi"] and second.where.endswith(":13")
  xpos = conllu.read_conllu_folder(str(ud_dir), "xpos", cache)
  assert xpos["val"][0].label == ["PRP", "VBP", "RB", "VB", "."]


def test_conllu_bad_column_count_names_file_and_line(tmp_path, cache):
  bad = CONLLU.replace("4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", "4\tknow\tVERB")
  write(tmp_path / "x-ud-train.conllu", bad)
  write(tmp_path / "x-ud-test.conllu", CONLLU)
  with pytest.raises(ConfigError, match=r"x-ud-train\.conllu:8: expected 10 tab-separated"):
    conllu.read_conllu_folder(str(tmp_path), "upos", cache)


def test_conllu_label_column_must_be_upos_or_xpos(ud_dir, cache):
  with pytest.raises(ConfigError, match="data.label_column='-1'.*upos, xpos"):
    conllu.read_conllu_folder(str(ud_dir), "-1", cache)


@pytest.mark.parametrize("source", [None, "missing", "empty"])
def test_missing_or_empty_source_dir_names_the_key_and_files(tmp_path, cache, source):
  (tmp_path / "empty").mkdir()
  source_dir = None if source is None else str(tmp_path / source / "sub")
  if source == "empty":
    source_dir = str(tmp_path / "empty")
  with pytest.raises(ConfigError, match=r"data\.source_dir.*-ud-train\.conllu"):
    conllu.read_conllu_folder(source_dir, "upos", cache)


def test_conll_bio_tags_docstart_and_iob1_to_iob2(tmp_path, cache):
  write(tmp_path / "train.txt", CONLL_TRAIN)
  write(tmp_path / "valid.txt", CONLL_TEST)
  write(tmp_path / "test.txt.gz", CONLL_TEST, compress=True)
  splits = conll.read_conll_folder(str(tmp_path), "-1", cache)
  eu, peter = splits["train"]
  assert eu.input == ["EU", "rejects", "German", "call"]
  # The file is IOB1 (spans start with I-); IOB2 starts every span with B-.
  assert eu.label == ["B-ORG", "O", "B-MISC", "O"]
  assert peter.label == ["B-PER", "I-PER"] and peter.where.endswith("train.txt:8")
  assert splits["test"][0].label == ["B-LOC", "O"]
  chunks = conll.read_conll_folder(str(tmp_path), "2", cache)
  assert chunks["train"][0].label == ["B-NP", "B-VP", "B-NP", "I-NP"]


def test_to_iob2_leaves_iob2_and_other_tags_alone():
  assert conll.to_iob2(["B-PER", "I-PER", "B-PER", "O"]) == ["B-PER", "I-PER", "B-PER", "O"]
  assert conll.to_iob2(["I-PER", "I-LOC", "O", "I-LOC"]) == ["B-PER", "B-LOC", "O", "B-LOC"]
  assert conll.to_iob2(["NN", "I-X"]) == ["NN", "I-X"]


def test_conll_errors_name_file_line_and_key(tmp_path, cache):
  write(tmp_path / "train.txt", CONLL_TRAIN.replace("rejects VBZ B-VP O", "rejects O"))
  write(tmp_path / "test.txt", CONLL_TEST)
  with pytest.raises(ConfigError, match=r"train\.txt:4: expected 4 whitespace-separated"):
    conll.read_conll_folder(str(tmp_path), "-1", cache)
  with pytest.raises(ConfigError, match="data.label_column='upos'.*column index"):
    conll.read_conll_folder(str(tmp_path), "upos", cache)


def test_label_sentence_prefix_picks_one_file_set(tmp_path, cache):
  for prefix in ("stsa.binary", "stsa.fine"):
    write(tmp_path / f"{prefix}.train", "1 a fine film\n0 a dull film\n\n")
    write(tmp_path / f"{prefix}.dev", "1 fine\n")
    write(tmp_path / f"{prefix}.test", "0 dull\n")
  with pytest.raises(ConfigError, match="several file sets.*stsa.binary, .*stsa.fine"):
    sentences.read_sentence_folder(str(tmp_path), "label_sentence", "label", cache)
  splits = sentences.read_sentence_folder(str(tmp_path / "stsa.binary"), "label_sentence",
                                          "label", cache)
  assert [(ex.input, ex.label) for ex in splits["train"]] == [("a fine film", "1"),
                                                              ("a dull film", "0")]
  assert splits["val"][0].where.endswith("stsa.binary.dev:1")
  write(tmp_path / "stsa.fine.train", "1 a fine film\n2\n")
  with pytest.raises(ConfigError, match=r"stsa\.fine\.train:2: expected '<label> <sentence>'"):
    sentences.read_sentence_folder(str(tmp_path / "stsa.fine"), "label_sentence", "label", cache)


def test_trec_latin1_byte_and_label_fields(tmp_path, cache):
  write(tmp_path / "train_5500.label",
        b"DESC:manner How did serfdom develop ?\nLOC:city What is the sister\xf0city of X ?\n")
  write(tmp_path / "TREC_10.label", b"NUM:date When was it ?\n")
  coarse = sentences.read_sentence_folder(str(tmp_path), "trec", "coarse", cache)
  assert [ex.label for ex in coarse["train"]] == ["DESC", "LOC"]
  assert coarse["train"][1].input == "What is the sister\u00f0city of X ?"
  assert "val" not in coarse
  fine = sentences.read_sentence_folder(str(tmp_path), "trec", "fine", cache)
  assert [ex.label for ex in fine["train"]] == ["DESC:manner", "LOC:city"]
  with pytest.raises(ConfigError, match="data.label_field='label'.*coarse, fine"):
    sentences.read_sentence_folder(str(tmp_path), "trec", "label", cache)
  write(tmp_path / "TREC_10.label", b"NUM:date When was it ?\nDESC what\n")
  with pytest.raises(ConfigError, match=r"TREC_10\.label:2: expected 'COARSE:fine"):
    sentences.read_sentence_folder(str(tmp_path), "trec", "coarse", cache)


def test_polarity_class_files(tmp_path, cache):
  write(tmp_path / "rt-polarity.pos", b"good\nvery good\n")
  write(tmp_path / "rt-polarity.neg", b"bad\nawful caf\xe9\n\n")
  write(tmp_path / "README.txt", "not a class\n")
  splits = sentences.read_sentence_folder(str(tmp_path), "polarity", "label", cache)
  pool = splits[sentences.POLARITY_SPLIT]
  assert [(ex.input, ex.label) for ex in pool] == [
      ("bad", "neg"), ("awful caf\u00e9", "neg"), ("good", "pos"), ("very good", "pos")]
  other = tmp_path / "txt"
  write(other / "objective.txt", "a\nb\n")
  write(other / "subjective.txt", "c\n")
  write(other / "README.txt", "ignored\n")
  labels = [ex.label for ex in sentences.read_sentence_folder(
      str(other), "polarity", "label", cache)[sentences.POLARITY_SPLIT]]
  assert labels == ["objective", "objective", "subjective"]


def test_changed_folder_is_prepared_again_and_folders_never_collide(tmp_path, cache):
  for name in ("a", "b"):
    write(tmp_path / name / "train", f"1 {name} one\n")
    write(tmp_path / name / "test", f"0 {name} two\n")
  a = sentences.read_sentence_folder(str(tmp_path / "a"), "label_sentence", "label", cache)
  b = sentences.read_sentence_folder(str(tmp_path / "b"), "label_sentence", "label", cache)
  assert a["train"][0].input == "a one" and b["train"][0].input == "b one"
  write(tmp_path / "a" / "train", "1 a one\n0 a three\n")
  os.utime(tmp_path / "a" / "train", ns=(1, 1))
  a = sentences.read_sentence_folder(str(tmp_path / "a"), "label_sentence", "label", cache)
  assert [ex.input for ex in a["train"]] == ["a one", "a three"]


def _folder_builder(source, cache):
  files = {"train": [str(source / "train")], "test": [str(source / "test")]}
  key = builders.fingerprint(str(source), [p for paths in files.values() for p in paths],
                             format="label_sentence")
  return sentences.SentenceFolder(fmt="label_sentence", files=files, key=key, data_dir=cache)


def test_parallel_workers_write_one_copy_and_the_waiter_reads_it(tmp_path):
  # Two workers of a sweep open the same folder before either has prepared it.
  write(tmp_path / "src" / "train", "1 a one\n0 a two\n")
  write(tmp_path / "src" / "test", "0 a three\n")
  cache = str(tmp_path / "tfds")
  writer, waiter, late = (_folder_builder(tmp_path / "src", cache) for _ in range(3))
  assert not writer.is_prepared() and not waiter.is_prepared()
  holding, release, errors = threading.Event(), threading.Event(), []

  def catching(work):
    def run():
      try:
        work()
      except Exception as err:  # noqa: BLE001 - a thread's error would vanish otherwise
        errors.append(err)
    return threading.Thread(target=run)

  def write_slowly():
    with prepare_lock.preparing(writer) as must_write:
      assert must_write
      holding.set()
      release.wait(30)
      writer.download_and_prepare(file_format=prepared.FILE_FORMAT)  # as builders.prepare

  first, second = catching(write_slowly), catching(lambda: builders.prepare(waiter))
  first.start()
  assert holding.wait(30)  # the writer holds the lock before the second worker arrives
  second.start()
  second.join(1.0)
  assert second.is_alive(), "the second worker did not wait for the first"
  release.set()
  first.join(60)
  second.join(60)
  assert errors == []
  for builder in (waiter, builders.prepare(late)):  # late: opened before, prepared after
    # Constructed with TFDS's default format before the copy existed: the stored one counts.
    assert str(builder.info.file_format.value) == prepared.FILE_FORMAT
    inputs = [builders.decode(ex["text"]) for ex in builders.read_split(builder, "train")]
    assert inputs == ["a one", "a two"]
