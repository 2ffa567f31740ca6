"""Pretrained word vectors: GloVe and word2vec text files, lookup, random rows, clear errors."""

import gzip

import numpy as np
import pytest

from bilstm_jax import models
from bilstm_jax.config import ConfigError
from bilstm_jax.data import word_vectors
from tests.paths import CONFIGS_COMMON as common

VOCAB = ["<pad>", "<unk>", "the", "Cat", "sat", "zyzzyva"]


def _write(path, lines):
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return str(path)


def test_glove_rows_lowercase_fallback_and_random_rest(tmp_path):
  path = _write(tmp_path / "glove.txt", ["the 1 2 3", "cat 4 5 6", "Cat 7 8 9", "sat 0.5 -1 2e-1",
                                         "new york 1 1 1", "unused 9 9 9"])
  rows, coverage = word_vectors.load_word_vectors(path, VOCAB, 3, seed=0)
  assert rows.shape == (6, 3) and rows.dtype == np.float32
  np.testing.assert_allclose(rows[2:5], [[1, 2, 3], [7, 8, 9], [0.5, -1, 0.2]], rtol=1e-7)  # exact wins
  assert (coverage.exact, coverage.lowercased, coverage.vocab_size) == (3, 0, 6)
  assert "3/6 vocabulary words" in str(coverage)
  again, _ = word_vectors.load_word_vectors(path, VOCAB, 3, seed=0)
  np.testing.assert_array_equal(rows, again)  # random rows are a function of the seed
  other, _ = word_vectors.load_word_vectors(path, VOCAB, 3, seed=1)
  assert not np.array_equal(rows[[0, 1, 5]], other[[0, 1, 5]])
  lower_only = _write(tmp_path / "lower.txt", ["cat 4 5 6"])
  rows, coverage = word_vectors.load_word_vectors(lower_only, VOCAB, 3)
  np.testing.assert_array_equal(rows[3], [4, 5, 6])
  assert (coverage.exact, coverage.lowercased) == (0, 1)


def test_word2vec_header_and_gzip(tmp_path):
  path = tmp_path / "w2v.txt.gz"
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("2 2\nthe 1 2\nsat 3 4\n")
  rows, coverage = word_vectors.load_word_vectors(str(path), VOCAB, 2)
  np.testing.assert_array_equal(rows[[2, 4]], [[1, 2], [3, 4]])
  assert coverage.exact == 2
  with pytest.raises(ConfigError, match=r"w2v.txt.gz:1: the word2vec header says 2-dim.*"
                                        r"model.embed_dim=3"):
    word_vectors.load_word_vectors(str(path), VOCAB, 3)


@pytest.mark.parametrize("lines, message", [
    (["the 1 2 3", "sat 1 2"], r"bad.txt:2: expected a word and 3 numbers"),
    (["the 1 x 3"], r"bad.txt:1: a vector value is not a number"),
    (["nothing 1 2 3"], r"none of the 6 vocabulary words occur in it"),
])
def test_bad_vector_files_name_file_and_line(tmp_path, lines, message):
  path = _write(tmp_path / "bad.txt", lines)
  with pytest.raises(ConfigError, match=message):
    word_vectors.load_word_vectors(path, VOCAB, 3)
  with pytest.raises(ConfigError, match="model.word_vectors=.*cannot read"):
    word_vectors.load_word_vectors(str(tmp_path / "missing.txt"), VOCAB, 3)


def test_vectors_initialise_the_embedding_table(key, tmp_path):
  path = _write(tmp_path / "glove.txt", ["the 1 2 3", "sat 4 5 6"])
  rows, _ = word_vectors.load_word_vectors(path, VOCAB, 3)
  cfg = common.base_config().model
  cfg.embed_dim, cfg.units = 3, 4
  info = {"task": "classification", "vocab_size": len(VOCAB), "num_classes": 2}
  model = models.build_model(cfg, info, rows)
  inputs, lengths = np.array([[2, 4, 0]], np.int32), np.array([2], np.int32)
  params = model.init(key, inputs, lengths)["params"]
  np.testing.assert_array_equal(params["encoder"]["embed"]["embedding"], rows)


def test_vectors_on_speech_data_are_one_config_error(tmp_path):
  cfg = common.base_config().model
  cfg.word_vectors = _write(tmp_path / "glove.txt", ["the 1 2 3"])
  info = {"task": "classification", "vocab_size": None, "feature_dim": 40, "num_classes": 10}
  with pytest.raises(ConfigError, match="model.word_vectors is for text data"):
    models.build_model(cfg, info)
