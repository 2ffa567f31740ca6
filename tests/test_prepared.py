"""Prepared data is read without TensorFlow: the same parameters, no tensorflow module loaded,
and one error naming `bilstm-prepare` where data is missing and TensorFlow is not there."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bilstm_jax.data import prepared
from tests.paths import ROOT
from tests.test_speech import fsdd_folder

WRAPPER = os.path.join(ROOT, "tests", "without_tensorflow.py")
TAGS = ("DET", "NOUN", "VERB", "ADJ")


def conllu_folder(root, seed=0):
  """A tiny UD folder: train/dev/test of random sentences whose tags follow the words."""
  rng = np.random.default_rng(seed)
  words = [f"w{i}" for i in range(30)]
  for split, count in (("train", 40), ("dev", 8), ("test", 8)):
    lines = []
    for _ in range(count):
      ids = rng.integers(0, len(words), rng.integers(2, 9))
      for j, i in enumerate(ids, start=1):
        lines.append(f"{j}\t{words[i]}\t_\t{TAGS[i % 4]}\t_\t_\t0\t_\t_\t_")
      lines.append("")
    root.mkdir(parents=True, exist_ok=True)
    (root / f"en_t-ud-{split}.conllu").write_text("\n".join(lines) + "\n")
  return root


def run(mode, command, *args):
  """(exit status, stdout and stderr, whether tensorflow was loaded) of one command line."""
  done = subprocess.run([sys.executable, WRAPPER, mode, command, *args], cwd=ROOT, check=False,
                        capture_output=True, text=True, timeout=600)
  out = done.stdout + done.stderr
  loaded = [line for line in done.stdout.splitlines() if line.startswith("tensorflow loaded:")]
  assert loaded, out[-3000:]
  return done.returncode, out, loaded[-1].endswith("True")


def train(mode, workdir, config_args):
  rc, out, loaded = run(mode, "bilstm-train", *config_args, f"--workdir={workdir}")
  assert rc == 0, out[-3000:]
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f), loaded


def test_prepare_command_keeps_the_config_flags():
  argv = ["bilstm-train", "--config", "configs/fsdd.py:smoke", "--workdir", "runs/a b",
          "--config.data.source_dir=/d/fsdd", "--workdir=x"]
  assert prepared.prepare_command(argv) == (
      "bilstm-prepare --config configs/fsdd.py:smoke --config.data.source_dir=/d/fsdd")


def test_text_run_reads_prepared_data_without_tensorflow(tmp_path):
  args = ["--config=configs/ud_pos.py:smoke",
          f"--config.data.source_dir={conllu_folder(tmp_path / 'ud')}",
          f"--config.data.cache_dir={tmp_path / 'cache'}"]
  # The first run prepares the folder itself; the next two read what it wrote.
  first, _ = train("--watch", tmp_path / "first", args)
  blocked, _ = train("--block", tmp_path / "blocked", args)
  normal, loaded = train("--watch", tmp_path / "normal", args)
  assert not loaded  # installed, but a run on prepared data never imports it
  assert first["params_sha256"] == blocked["params_sha256"] == normal["params_sha256"]
  assert blocked["startup_s"] > 0 and blocked["peak_rss_mib"] > 0


def test_speech_run_reads_prepared_features_without_tensorflow(tmp_path):
  args = ["--config=configs/fsdd.py:smoke",
          f"--config.data.source_dir={fsdd_folder(tmp_path / 'fsdd')}",
          f"--config.data.cache_dir={tmp_path / 'cache'}"]
  # Without TensorFlow nothing can be prepared: one error that gives the command to run.
  rc, out, _ = run("--block", "bilstm-train", *args, f"--workdir={tmp_path / 'early'}")
  assert rc != 0 and "Traceback" not in out
  assert "not prepared" in out and "bilstm-prepare --config=configs/fsdd.py:smoke" in out
  assert not os.path.exists(tmp_path / "early" / "results.json")
  rc, out, loaded = run("--watch", "bilstm-prepare", *args)
  assert rc == 0 and "prepared data.name=speech" in out, out[-3000:]
  assert loaded  # preparing computed the features with tf.signal (and the check can tell)
  blocked, _ = train("--block", tmp_path / "blocked", args)
  normal, loaded = train("--watch", tmp_path / "normal", args)
  assert not loaded
  assert blocked["params_sha256"] == normal["params_sha256"]


def test_prepare_without_tensorflow_says_what_to_install(tmp_path):
  args = ["--config=configs/fsdd.py:smoke",
          f"--config.data.source_dir={fsdd_folder(tmp_path / 'fsdd', digits=(0, 1))}",
          f"--config.data.cache_dir={tmp_path / 'cache'}"]
  rc, out, _ = run("--block", "bilstm-prepare", *args)
  assert rc != 0 and "Traceback" not in out
  assert prepared.PREPARE_EXTRA in out


@pytest.mark.parametrize("installed", [True, False])
def test_need_tensorflow(monkeypatch, installed):
  monkeypatch.setattr(prepared, "tensorflow_installed", lambda: installed)
  if installed:
    prepared.need_tensorflow("x")
  else:
    with pytest.raises(prepared.NotPrepared, match="x is not prepared.*bilstm-prepare"):
      prepared.need_tensorflow("x")


def test_plain_decoding_equals_tfds_decoding():
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  features = tfds.features.FeaturesDict({
      "idx": np.int64, "file": tfds.features.Text(), "score": np.float32,
      "tokens": tfds.features.Sequence(tfds.features.Text()),
      "label": tfds.features.ClassLabel(names=["neg", "pos"]),
      "ids": tfds.features.Sequence(np.int32)})
  specs = prepared._plain_features(features)  # pylint: disable=protected-access
  assert specs is not None
  for example in ({"idx": 7, "file": "a/ü.txt", "score": 0.25, "tokens": ["x", "ÿz"],
                   "label": "pos", "ids": [3, -1]},
                  {"idx": -2, "file": "", "score": -1.5, "tokens": [], "label": 0,
                   "ids": []}):
    raw = features.serialize_example(example)
    # TFDS's numpy decoding, with sequences as arrays (as tf.data gives them and read_split's
    # other path makes them).
    want = {key: prepared._as_numpy(value)  # pylint: disable=protected-access
            for key, value in features.deserialize_example_np(raw).items()}
    got = prepared.decode_plain(raw, specs)
    assert set(got) == set(want)
    for key, value in want.items():
      if isinstance(value, np.ndarray):
        assert isinstance(got[key], np.ndarray) and got[key].tolist() == value.tolist(), key
        assert not len(value) or got[key].dtype == value.dtype, key  # [] has no dtype there
      else:
        assert type(got[key]) is type(value) and got[key] == value, key
  # Anything that decodes to something else than its stored list goes through TFDS.
  audio = tfds.features.FeaturesDict({"audio": tfds.features.Tensor(
      shape=(None,), dtype=np.int16, encoding="bytes")})
  assert prepared._plain_features(audio) is None  # pylint: disable=protected-access
  nested = tfds.features.FeaturesDict({"phrases": tfds.features.Sequence(
      {"start": np.int32, "end": np.int32})})
  assert prepared._plain_features(nested) is None  # pylint: disable=protected-access


def test_iter_split_reads_in_chunks_what_read_split_reads(tmp_path, monkeypatch):
  # Speech preparation reduces a clip at a time: the reader must not decode a whole split.
  from bilstm_jax.data import builders  # pylint: disable=import-outside-toplevel
  from bilstm_jax.data.builders import sentences  # pylint: disable=import-outside-toplevel

  source = tmp_path / "src"
  source.mkdir()
  (source / "train").write_text("".join(f"{i % 2} s{i} word\n" for i in range(7)))
  (source / "test").write_text("0 t\n")
  files = {"train": [str(source / "train")], "test": [str(source / "test")]}
  key = builders.fingerprint(str(source), [p for paths in files.values() for p in paths],
                             format="label_sentence")
  builder = builders.prepare(sentences.SentenceFolder(
      fmt="label_sentence", files=files, key=key, data_dir=str(tmp_path / "tfds")))
  whole = prepared.read_split(builder, "train")
  assert len(whole) == 7
  reads = []
  open_source = builder.as_data_source

  class Recording:
    def __init__(self, inner):
      self.inner = inner

    def __len__(self):
      return len(self.inner)

    def __getitems__(self, indices):
      reads.append(list(indices))
      return self.inner.__getitems__(indices)

  monkeypatch.setattr(builder, "as_data_source", lambda **kw: Recording(open_source(**kw)))
  examples = prepared.iter_split(builder, "train", chunk=3)
  assert reads == []  # nothing is read before the first example is asked for
  first = next(examples)
  assert reads == [[0, 1, 2]]
  rest = list(examples)
  assert reads == [[0, 1, 2], [3, 4, 5], [6]]
  assert [ex["idx"] for ex in [first, *rest]] == [ex["idx"] for ex in whole]
  for got, want in zip([first, *rest], whole, strict=True):
    assert got["text"] == want["text"] and got["label"] == want["label"]
