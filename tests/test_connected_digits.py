"""Connected digits: utterance recipe, splits, determinism, trim rule, frame labels, errors."""

import glob
import os
import wave

import numpy as np
import pytest

from bilstm_jax.config import ConfigError
from bilstm_jax.data.builders import connected_digits as cd
from bilstm_jax.data.builders import read_split
from bilstm_jax.data.builders.audio_folder import read_wav

RATE = 8000
PAD, TONE = 240, 480  # 30 ms of near-silence either side of a 60 ms tone
SPEAKERS = ("ann", "bob")
INDICES = (0, 1, 5, 6, 45, 46)  # two a split under the recording rule
RANGES = {"test": range(5), "validation": range(45, 50), "train": range(5, 45)}


def write_wav(path, samples_S, rate=RATE):
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes(np.asarray(samples_S, "<i2").tobytes())


def write_folder(root, speakers=SPEAKERS, indices=INDICES, skip=()):
  """'{digit}_{speaker}_{index}.wav': a tone (its own pitch and level) between quiet noise."""
  rng = np.random.default_rng(0)
  root.mkdir(parents=True, exist_ok=True)
  for s, speaker in enumerate(speakers):
    for digit in range(10):
      for index in indices:
        name = f"{digit}_{speaker}_{index}.wav"
        if name in skip:
          continue
        t_S = np.arange(TONE) / RATE
        # Starts at phase 0, so the trimmed recording begins with an exact zero.
        tone_S = np.round((2000 + 500 * s + 20 * index) * np.sin(2 * np.pi * (300 + 100 * digit)
                                                                   * t_S))
        write_wav(root / name, np.concatenate([rng.integers(-2, 3, PAD), tone_S,
                                               rng.integers(-2, 3, PAD)]))
  (root / "metadata.csv").write_text("not a wav, ignored\n")
  return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return write_folder(tmp_path_factory.mktemp("fsdd"))


def spec_for(folder, **kwargs):
  options = {"train_size": 6, "val_size": 3, "test_size": 3, "min_digits": 2, "max_digits": 4,
             "min_gap_ms": 20.0, "max_gap_ms": 60.0}
  return cd.DigitsSpec(str(folder), **{**options, **kwargs})


def read_all(builder):
  return {split: read_split(builder, split) for split in ("train", "validation", "test")}


@pytest.fixture(scope="module")
def built(folder, tmp_path_factory):
  spec = spec_for(folder)
  builder = cd.prepare_connected_digits(spec, str(tmp_path_factory.mktemp("tfds")))
  return spec, builder, read_all(builder)


def text(value):
  return value.decode() if isinstance(value, bytes) else str(value)


def test_utterances_join_trimmed_recordings(folder, built):
  spec, _, splits = built
  assert {split: len(exs) for split, exs in splits.items()} == {
      "train": 6, "validation": 3, "test": 3}
  low, high = round(spec.min_gap_ms * RATE / 1000), round(spec.max_gap_ms * RATE / 1000)
  saw_zero = False
  for exs in splits.values():
    assert [int(ex["idx"]) for ex in exs] == list(range(len(exs)))
    for ex in exs:
      audio_S, segments_Nx2, digits_N = ex["audio"], ex["segments"], ex["digits"]
      sources = text(ex["sources"]).split(" ")
      assert audio_S.dtype == np.int16 and int(ex["sample_rate"]) == RATE
      assert not (audio_S == 0).any()
      assert spec.min_digits <= len(digits_N) <= spec.max_digits
      assert segments_Nx2.shape == (len(digits_N), 2) and len(sources) == len(digits_N)
      bounds = [0, *segments_Nx2.ravel().tolist(), len(audio_S)]
      gaps = np.diff(bounds)[::2]  # before, between and after the digits
      assert np.all((gaps >= low) & (gaps <= high)), gaps
      assert np.all(np.diff(bounds) >= 0)
      for (start, end), digit, name in zip(segments_Nx2, digits_N, sources):
        source_digit, speaker, _ = name[:-len(".wav")].split("_")
        assert int(source_digit) == digit and speaker == text(ex["speaker"])
        raw_S, _ = read_wav(str(folder / name))
        # The trim keeps exactly the tone; its zeros become +-1 and nothing else changes.
        assert cd.trim_bounds(raw_S, RATE, spec.trim_db) == (PAD, PAD + TONE)
        raw_S = raw_S[PAD:PAD + TONE]
        stored_S = audio_S[start:end]
        assert len(stored_S) == TONE
        np.testing.assert_array_equal(stored_S[raw_S != 0], raw_S[raw_S != 0])
        assert np.all(np.abs(stored_S[raw_S == 0]) == 1)
        saw_zero |= bool((raw_S == 0).any())
      gap_S = np.concatenate([audio_S[a:b] for a, b in zip(bounds[::2], bounds[1::2])])
      assert np.abs(gap_S).max() < 20  # dither, not signal
  assert saw_zero


def test_splits_draw_only_from_their_index_ranges(built):
  _, _, splits = built
  for split, exs in splits.items():
    indices = {int(name[:-len(".wav")].rsplit("_", 1)[1])
               for ex in exs for name in text(ex["sources"]).split(" ")}
    assert indices and indices <= set(RANGES[split]), (split, indices)


def test_speaker_rule_holds_one_speaker_out(folder, tmp_path):
  assert list(cd.list_recordings(spec_for(folder, split_rule="speaker")).pools["test"]) == ["ann"]
  # One gap length, so every gap must be exactly 25 ms.
  spec = spec_for(folder, split_rule="speaker", heldout_speaker="bob", train_size=8,
                  min_gap_ms=25.0, max_gap_ms=25.0)
  splits = read_all(cd.prepare_connected_digits(spec, str(tmp_path)))
  for ex in (ex for exs in splits.values() for ex in exs):
    bounds = [0, *ex["segments"].ravel().tolist(), len(ex["audio"])]
    assert np.diff(bounds)[::2].tolist() == [200] * (len(ex["digits"]) + 1)
  assert {text(ex["speaker"]) for ex in splits["test"]} == {"bob"}
  for split, index_range in (("train", range(45)), ("validation", range(45, 50))):
    for ex in splits[split]:
      assert text(ex["speaker"]) == "ann"
      for name in text(ex["sources"]).split(" "):
        assert name.split("_")[1] == "ann" and int(name[:-4].split("_")[2]) in index_range


def test_same_spec_writes_the_same_bytes_and_another_seed_does_not(folder, built, tmp_path):
  spec, first, first_splits = built
  again = cd.prepare_connected_digits(spec, str(tmp_path / "again"))
  assert again.builder_config.name == first.builder_config.name
  records = [sorted(glob.glob(os.path.join(b.data_dir, "*.array_record*"))) for b in (first, again)]
  assert records[0] and [os.path.basename(p) for p in records[0]] == [
      os.path.basename(p) for p in records[1]]
  for a, b in zip(*records):
    with open(a, "rb") as fa, open(b, "rb") as fb:
      assert fa.read() == fb.read(), a
  for split, exs in read_all(again).items():
    for ex, ref in zip(exs, first_splits[split], strict=True):
      for key in ex:
        np.testing.assert_array_equal(ex[key], ref[key])

  other = cd.prepare_connected_digits(spec_for(folder, seed=1), str(tmp_path / "seed1"))
  assert other.builder_config.name != first.builder_config.name
  other_audio = [ex["audio"] for ex in read_all(other)["train"]]
  assert any(len(a) != len(b) or (a != b).any()
             for a, b in zip(other_audio, [ex["audio"] for ex in first_splits["train"]]))


def test_trim_rule_on_a_hand_made_signal():
  # 1 kHz: 10-sample frames. 30 silent samples, 40 at 1000, one frame at 20 (-34 dB), one at
  # 5 (-46 dB), then a 5-sample silent last frame.
  signal_S = np.concatenate([np.zeros(30), np.full(40, 1000), np.full(10, 20), np.full(10, 5),
                             np.zeros(5)]).astype(np.int16)
  assert cd.trim_bounds(signal_S, 1000, 40.0) == (30, 80)
  assert cd.trim_bounds(signal_S, 1000, 30.0) == (30, 70)
  assert cd.trim_bounds(signal_S, 1000, 50.0) == (30, 90)
  # A frame half silent, half loud counts as loud; a short loud last frame ends the recording.
  signal_S = np.concatenate([np.zeros(25), np.full(10, 800), np.zeros(30), np.full(3, 900)])
  assert cd.trim_bounds(signal_S, 1000, 40.0) == (20, 68)
  # A short last frame is measured over its own samples: 1 sample at 50 is -26 dB, not -36.
  assert cd.trim_bounds(np.array([1000] * 20 + [50]), 1000, 30.0) == (0, 21)
  # Never empty: constant or silent recordings are kept whole.
  assert cd.trim_bounds(np.full(37, 7), 1000, 40.0) == (0, 37)
  assert cd.trim_bounds(np.zeros(37), 1000, 40.0) == (0, 37)


def test_frame_labels_by_frame_centre():
  segments, digits = np.array([[10, 30], [40, 55]]), np.array([3, 7])
  # Centres 5, 15, 25, 35, 45, 55: 55 is the end of [40, 55), so silence.
  np.testing.assert_array_equal(cd.frame_labels(segments, digits, 6, 10, 10),
                                [10, 3, 3, 10, 7, 10])
  # Overlapping frames (length 20, step 5): centres 10, 15, ..., 50.
  labels_T = cd.frame_labels(segments, digits, 9, 20, 5, silence=-1)
  assert labels_T.dtype == np.int32
  np.testing.assert_array_equal(labels_T, [3, 3, 3, 3, -1, -1, 7, 7, 7])
  assert cd.frame_labels(segments, digits, 0, 20, 5).shape == (0,)


def test_a_speaker_without_a_digit_in_a_split_is_named(tmp_path):
  root = write_folder(tmp_path / "wavs", skip={"7_bob_0.wav", "7_bob_1.wav"})
  with pytest.raises(ConfigError, match=r"wavs: speaker 'bob' has no recording of digit 7 with "
                                        r"index 0-4 \(test split\)$"):
    cd.prepare_connected_digits(spec_for(root), str(tmp_path / "tfds"))
  root = write_folder(tmp_path / "more", skip={"2_ann_45.wav", "2_ann_46.wav", "5_ann_46.wav",
                                               "5_ann_45.wav"})
  with pytest.raises(ConfigError, match=r"speaker 'ann' has no recording of digits 2, 5 with "
                                        r"index 45-49 \(validation split\)$"):
    cd.list_recordings(spec_for(root))


def corrupt(root):
  (root / "3_ann_5.wav").write_bytes(np.random.default_rng(0).bytes(300))


def misnamed(root):
  write_wav(root / "seven.wav", np.ones(100))


def other_rate(root):
  write_wav(root / "4_bob_6.wav", np.ones(1000), rate=16000)


@pytest.mark.parametrize("damage,match", [
    (corrupt, r"3_ann_5\.wav: cannot decode as a 16-bit PCM wav"),
    (misnamed, r"seven\.wav: not an FSDD-style name.*\{digit\}_\{speaker\}_\{index\}\.wav"),
    (other_rate, r"4_bob_6\.wav: sample rate 16000 Hz, but .*_\d+\.wav has 8000 Hz"),
])
def test_bad_files_are_named(tmp_path, damage, match):
  root = write_folder(tmp_path / "wavs")
  damage(root)
  with pytest.raises(ConfigError, match=match):
    cd.prepare_connected_digits(spec_for(root), str(tmp_path / "tfds"))


@pytest.mark.parametrize("change,match", [
    ({"max_digits": 1}, r"data\.max_digits=1: expected an integer >= data\.min_digits=2"),
    ({"split_rule": "random"}, r"data\.split_rule='random': expected one of 'recording', 'sp"),
    ({"train_size": 0}, r"data\.train_size=0"),
    ({"max_gap_ms": 10.0}, r"data\.max_gap_ms=10\.0: expected a number >= data\.min_gap_ms"),
    ({"heldout_speaker": "bob"}, r"data\.heldout_speaker='bob'.*data\.split_rule='speaker'"),
    ({"trim_db": 0}, r"data\.trim_db=0"),
])
def test_bad_spec_values_name_their_key(folder, change, match):
  with pytest.raises(ConfigError, match=match):
    spec_for(folder, **change)


def test_unknown_heldout_speaker_lists_the_speakers(folder):
  with pytest.raises(ConfigError, match=r"data\.heldout_speaker='carl': no such speaker in "
                                        r".*; speakers found: ann, bob$"):
    cd.list_recordings(spec_for(folder, split_rule="speaker", heldout_speaker="carl"))
