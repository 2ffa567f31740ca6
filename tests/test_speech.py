"""Speech loading: the audio-folder builder, split rules, feature cache, normalisation, mocks."""

import os

# Importing TF imports Keras, which fixes its backend once; test_interop_real needs jax.
os.environ.setdefault("KERAS_BACKEND", "jax")

import wave  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from bilstm_jax.config import ConfigError  # noqa: E402
from bilstm_jax.data import features, speech  # noqa: E402
from bilstm_jax.data.builders import audio_folder  # noqa: E402
from tests.paths import CONFIGS_COMMON  # noqa: E402


def write_wav(path, seconds=0.2, rate=8000, freq_hz=440.0, gain=0.3):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  t_S = np.arange(int(seconds * rate)) / rate
  samples_S = (gain * 32767 * np.sin(2 * np.pi * freq_hz * t_S)).astype("<i2")
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes(samples_S.tobytes())


def num_frames(samples, rate=8000):
  # 25 ms frames every 10 ms, no end padding.
  return 1 + (samples - rate // 40) // (rate // 100)


def fsdd_folder(root, digits=(0, 1, 2), indices=range(8), **wav_kwargs):
  """FSDD-style names '{digit}_spk_{index}.wav', each digit at its own pitch."""
  for d in digits:
    for i in indices:
      write_wav(root / f"{d}_spk_{i}.wav", freq_hz=300 + 200 * d, **wav_kwargs)
  return root


@pytest.fixture
def cfg(tmp_path):
  data = CONFIGS_COMMON.base_config().data
  data.name = "speech"
  data.format = "audio_folder"
  data.cache_dir = str(tmp_path / "cache")
  data.sample_rate = 8000
  data.num_mel_bins = 20
  return data


def test_fsdd_index_rule():
  assert audio_folder.fsdd_split("recordings/7_jackson_4.wav") == "test"
  assert audio_folder.fsdd_split("7_jackson_5.wav") == "train"
  assert audio_folder.fsdd_split("7_jackson_49.WAV") == "train"
  assert audio_folder.fsdd_split("seven.wav") is None


def test_file_name_labels_fsdd_split_and_carved_val(cfg, tmp_path):
  cfg.source_dir = str(fsdd_folder(tmp_path / "wavs"))
  cfg.val_fraction = 0.25
  splits, info = speech.load_speech_task(cfg, None)
  # 3 digits x indices 0-7: 0-4 are test (15), 5-7 train (9) of which round(0.25 * 9) = 2 val.
  assert {s: len(d) for s, d in splits.items()} == {"train": 7, "val": 2, "test": 15}
  assert info == {"task": "classification", "vocab_size": None, "feature_dim": 20,
                  "num_classes": 3, "label_names": ["0", "1", "2"], "scheme": None}
  for dataset in splits.values():
    assert dataset.labels.dtype == np.int32
    assert all(x.dtype == np.float32 and x.shape == (num_frames(1600), 20)
               for x in dataset.inputs)
  again, _ = speech.load_speech_task(cfg, None)
  np.testing.assert_array_equal(again["val"].labels, splits["val"].labels)


def test_metadata_csv_labels_and_splits(cfg, tmp_path):
  root = tmp_path / "csv"
  rows = ["filename,digit,split"]
  for i, (label, split) in enumerate([("3", "train"), ("3", "test"), ("8", "train"),
                                      ("8", "val"), ("8", "test"), ("3", "train")]):
    write_wav(root / "recordings" / f"clip{i}.wav", freq_hz=300 + 50 * i)
    rows.append(f"recordings/clip{i}.wav,{label},{split}")
  write_wav(root / "recordings" / "unlisted.wav")
  (root / "metadata.csv").write_text("\n".join(rows) + "\n")
  cfg.source_dir, cfg.label_field = str(root), "digit"
  splits, info = speech.load_speech_task(cfg, None)
  assert {s: len(d) for s, d in splits.items()} == {"train": 3, "val": 1, "test": 2}
  assert info["label_names"] == ["3", "8"]
  assert splits["val"].labels.tolist() == [1]
  assert sorted(splits["train"].labels.tolist()) == [0, 0, 1]

  cfg.label_field = "label"
  with pytest.raises(ConfigError, match=r"data\.label_field='label'.*columns: filename, digit"):
    speech.load_speech_task(cfg, None)


def test_a_changed_folder_is_prepared_again(tmp_path):
  root = fsdd_folder(tmp_path / "wavs", digits=(0,))
  before = audio_folder.list_folder(str(root), "label", r"^(?P<label>[^_]+)_")
  assert audio_folder.list_folder(str(root), "label", r"^(?P<label>[^_]+)_").key == before.key
  write_wav(root / "0_spk_3.wav", seconds=0.3)
  assert audio_folder.list_folder(str(root), "label", r"^(?P<label>[^_]+)_").key != before.key


@pytest.mark.parametrize("name,regex,match", [
    ("0_spk_1.wav", r"^(?P<digit>\d)_", r"no named group \(\?P<label>"),
    ("zero.wav", r"^(?P<label>\d)_", r"label_regex.*does not match .*zero\.wav"),
    ("0_spk.wav", r"^(?P<label>\d)_", r"0_spk\.wav: no split .*trailing _<index>"),
])
def test_folder_mistakes_are_config_errors(tmp_path, name, regex, match):
  write_wav(tmp_path / "wavs" / name)
  with pytest.raises(ConfigError, match=match):
    audio_folder.list_folder(str(tmp_path / "wavs"), "label", regex)


def test_stereo_is_averaged_and_other_bit_depths_are_refused(tmp_path):
  with wave.open(str(tmp_path / "stereo.wav"), "wb") as f:
    f.setnchannels(2)
    f.setsampwidth(2)
    f.setframerate(8000)
    f.writeframes(np.array([[1000, 3000]] * 4, "<i2").tobytes())
  audio_S, rate = audio_folder.read_wav(str(tmp_path / "stereo.wav"))
  assert rate == 8000 and audio_S.dtype == np.int16 and audio_S.tolist() == [2000] * 4
  with wave.open(str(tmp_path / "8bit.wav"), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(1)
    f.setframerate(8000)
    f.writeframes(bytes(range(100)))
  with pytest.raises(ConfigError, match=r"8bit\.wav: cannot decode as a 16-bit PCM wav"):
    audio_folder.read_wav(str(tmp_path / "8bit.wav"))


def test_other_sample_rates_are_resampled_or_refused(cfg, tmp_path):
  cfg.source_dir = str(fsdd_folder(tmp_path / "wavs", digits=(0, 1), indices=(3, 6, 7),
                                   rate=16000))
  splits, _ = speech.load_speech_task(cfg, None)
  assert splits["test"].inputs[0].shape == (num_frames(1600), 20)  # 0.2 s at 8 kHz
  cfg.resample = False
  cfg.num_mel_bins = 21  # new feature settings, so nothing comes from the cache
  with pytest.raises(ConfigError, match=r"_spk_\d\.wav: sample rate 16000 Hz.*8000 Hz"):
    speech.load_speech_task(cfg, None)


def test_short_utterance_is_refused(cfg, tmp_path):
  root = fsdd_folder(tmp_path / "wavs", digits=(0,), indices=(3, 6, 7))
  write_wav(root / "1_spk_8.wav", seconds=0.02)  # 160 samples, one 200-sample frame needs more
  cfg.source_dir = str(root)
  with pytest.raises(ConfigError, match=r"1_spk_8\.wav: 160 samples"):
    speech.load_speech_task(cfg, None)


def test_global_normalisation_uses_training_stats_only(cfg, tmp_path):
  # Test clips (index 0-4) are much louder, so stats that saw them would differ.
  root = fsdd_folder(tmp_path / "wavs", indices=range(5, 9), gain=0.01)
  fsdd_folder(root, indices=range(0, 3), gain=0.9)
  cfg.source_dir, cfg.val_fraction = str(root), 0.25
  cfg.normalize = "none"
  raw, _ = speech.load_speech_task(cfg, None)
  cfg.normalize = "global"
  workdir = tmp_path / "run"
  normed, _ = speech.load_speech_task(cfg, str(workdir))
  raw_train = np.concatenate(raw["train"].inputs)
  stats = np.load(workdir / speech.STATS_FILE)
  np.testing.assert_allclose(stats["mean"], raw_train.mean(axis=0), rtol=1e-5)
  np.testing.assert_allclose(stats["std"], raw_train.std(axis=0), rtol=1e-4)
  assert int(stats["num_train"]) == len(raw["train"]) == 9
  np.testing.assert_allclose(np.concatenate(normed["train"].inputs).mean(axis=0), 0, atol=1e-4)
  assert np.concatenate(normed["test"].inputs).mean() > 1.0  # louder than train

  cfg.normalize = "utterance"
  per_utt, _ = speech.load_speech_task(cfg, None)
  for x in per_utt["test"].inputs:
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)


def test_second_load_reads_the_feature_cache(cfg, tmp_path, monkeypatch):
  cfg.source_dir = str(fsdd_folder(tmp_path / "wavs", digits=(0, 1)))
  first, _ = speech.load_speech_task(cfg, None)

  def refuse(*args, **kwargs):
    raise AssertionError("features were recomputed")

  monkeypatch.setattr(features, "compute_features", refuse)
  second, _ = speech.load_speech_task(cfg, None)
  for split in first:
    for a, b in zip(first[split].inputs, second[split].inputs):
      np.testing.assert_array_equal(a, b)
  cfg.deltas = 1  # other settings -> another cache entry
  with pytest.raises(AssertionError, match="recomputed"):
    speech.load_speech_task(cfg, None)


def mock_examples(make_example, num_examples):
  """An as_dataset_fn for tfds.testing.mock_data that yields `make_example(split, i)`."""

  def as_dataset(self, split, **kwargs):
    spec = self.info.features.get_tensor_spec()
    return tf.data.Dataset.from_generator(
        lambda: (make_example(str(split), i) for i in range(num_examples)), output_signature=spec)

  return as_dataset


@pytest.fixture
def prepared(monkeypatch):
  # mock_data replaces the records but not the "is it prepared" check our loader makes first.
  monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)


def test_mock_spoken_digit_uses_the_fsdd_rule(cfg, prepared):
  rng = np.random.default_rng(0)

  def example(split, i):
    digit, index = i % 10, i // 10
    return {"audio": rng.integers(-3000, 3000, 1200), "label": digit,
            "audio/filename": f"{digit}_jackson_{index}.wav"}

  cfg.source_dir, cfg.tfds_name = None, "spoken_digit"
  with tfds.testing.mock_data(as_dataset_fn=mock_examples(example, 80)):
    splits, info = speech.load_speech_task(cfg, None)
  assert {s: len(d) for s, d in splits.items()} == {"train": 27, "val": 3, "test": 50}
  assert info["num_classes"] == 10 and info["feature_dim"] == 20
  assert splits["test"].inputs[0].shape == (num_frames(1200), 20)
  assert splits["test"].inputs[0].dtype == np.float32


def test_mock_speech_commands_keeps_its_three_splits(cfg, prepared):
  rng = np.random.default_rng(0)

  def example(split, i):
    return {"audio": rng.integers(-3000, 3000, 4000).astype(np.int16), "label": i % 12}

  cfg.source_dir, cfg.tfds_name, cfg.sample_rate = None, "speech_commands", 16000
  with tfds.testing.mock_data(as_dataset_fn=mock_examples(example, 6)):
    splits, info = speech.load_speech_task(cfg, None)
  assert {s: len(d) for s, d in splits.items()} == {"train": 6, "val": 6, "test": 6}
  assert info["num_classes"] == 12 and "_unknown_" in info["label_names"]
  assert splits["val"].inputs[0].shape == (num_frames(4000, rate=16000), 20)


def test_unprepared_catalog_dataset_fails_fast_with_instructions(cfg, tmp_path):
  cfg.source_dir, cfg.tfds_name, cfg.tfds_data_dir = None, "spoken_digit", str(tmp_path / "td")
  with pytest.raises(ConfigError, match=r"tfds build spoken_digit --data_dir=.*td.*"
                                        r"data\.source_dir.*data\.format=audio_folder"):
    speech.load_speech_task(cfg, None)
  cfg.tfds_name = "librispeech"
  with pytest.raises(ConfigError, match=r"data\.tfds_name='librispeech'"):
    speech.load_speech_task(cfg, None)
