"""TFDS builder of connected digit strings, made by joining one speaker's FSDD recordings.

Framewise labelling and CTC transcription need utterances of several digits whose per-frame
labels are known; FSDD has one digit a file, so each utterance here joins several of them.

Source: every `{digit}_{speaker}_{index}.wav` anywhere under config key data.source_dir (the
Free Spoken Digit Dataset's names, e.g. `7_jackson_32.wav`; a speaker name may hold `_`).
Other files are ignored; a .wav with another name, two files with one name, an unreadable wav
or two sample rates are errors. Files are read with audio_folder.read_wav (16-bit PCM, mono).

Splits (data.split_rule), by the recording index in the file name:
- "recording": test draws from indices 0-4 (FSDD's official test split), validation from
  45-49, train from 5-44; every speaker is in every split. Indices 50 and up are not used.
- "speaker": test draws from every recording of data.heldout_speaker ("" picks the
  alphabetically first speaker), who is never in train or validation; validation draws from
  indices 45-49 and train from 0-44 of the other speakers.
Every speaker of a split needs a recording of each digit 0-9 in that split's range.

Trim: a recording is cut into 10 ms frames (the last may be shorter) and keeps the samples from
the first to the last frame whose RMS is within data.trim_db of its loudest frame, so nothing
is ever trimmed to empty. 40 dB by default: the recordings are already cut close, and their
fricative onsets ('six', 'seven', 'four') sit 20-45 dB under the vowel peak, so 30 dB would cut
many of them while 40 dB keeps most and still drops near-silent ends (some FSDD files end in
0.5-0.9 s of them); on FSDD it removes 27 ms a recording on average. Each exact zero kept
becomes +1 at even and -1 at odd positions of the trimmed recording: an utterance never holds
digital silence, and the mean is unchanged.

An utterance (example i of a split): a random stream seeded with (data.seed, split id; train 0,
validation 1, test 2) draws, in this order and uniformly: a speaker of the split, a number of
digits in [data.min_digits, data.max_digits], each digit in 0-9, for each digit one of that
speaker's recordings of it in the split, and the lengths of num_digits + 1 gaps in whole samples
in [round(min_gap_ms * rate / 1000), round(max_gap_ms * rate / 1000)]. The audio is gap, trimmed
recording, gap, ..., trimmed recording, gap. Gaps hold dither, round(N(0, 3^2)) int16 units with
each 0 replaced by a random +-1, from a stream seeded with (data.seed, split id, i): about
-81 dBFS, under the quietest 10 ms kept of 98% of FSDD recordings, and no sample is exactly 0.

Sizes: exactly data.train_size / val_size / test_size examples (train / validation / test).
Determinism: listings are sorted and every draw comes from those seeded streams, so one spec
over one folder writes the same bytes; example keys are f"{split}-{i:06d}". The config name
hashes the wav files (names, sizes, mtimes), every spec field and VERSION, so a changed folder
or spec is prepared again in its own folder.

Stored features: `audio` (int16), `sample_rate`, `digits` (the digit values, 0-9), `segments`
([start, end) sample offsets of each digit's recording within `audio`, one row per digit),
`speaker`, `sources` (the recordings' file names, space separated) and `idx` (i, so
builders.read_split returns the examples in order).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from bilstm_jax.config import ConfigError
from bilstm_jax.data.builders import LocalSource, fingerprint, prepare
from bilstm_jax.data.builders.audio_folder import read_wav

NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>.+)_(?P<index>[0-9]+)\.wav", re.IGNORECASE)
SPLIT_RULES = ("recording", "speaker")
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}  # the second seed word of each stream
SPLIT_SIZES = {"train": "train_size", "validation": "val_size", "test": "test_size"}
# Index ranges by rule and split; None: every recording of the held-out speaker.
RANGES = {"recording": {"train": range(5, 45), "validation": range(45, 50), "test": range(5)},
          "speaker": {"train": range(45), "validation": range(45, 50), "test": None}}
NUM_DIGITS = 10
SILENCE = 10  # the frame label after the ten digits
TRIM_FRAME_MS = 10.0
DITHER_STD = 3.0  # int16 units, about -81 dBFS


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class DigitsSpec:
  """Everything that determines the prepared dataset, besides the folder's files."""
  source_dir: str
  train_size: int = 8000
  val_size: int = 1000
  test_size: int = 1000
  seed: int = 0
  min_digits: int = 1
  max_digits: int = 7
  min_gap_ms: float = 50.0
  max_gap_ms: float = 300.0
  split_rule: str = "recording"
  heldout_speaker: str = ""
  trim_db: float = 40.0

  def __post_init__(self):
    def check(ok: bool, key: str, allowed: str):
      if not ok:
        raise ConfigError(f"config key data.{key}={getattr(self, key)!r}: expected {allowed}")

    check(isinstance(self.source_dir, str) and bool(self.source_dir), "source_dir",
          "a folder of {digit}_{speaker}_{index}.wav files")
    for key in SPLIT_SIZES.values():
      check(_is_int(getattr(self, key)) and getattr(self, key) >= 1, key, "an integer >= 1")
    check(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
    check(_is_int(self.min_digits) and self.min_digits >= 1, "min_digits", "an integer >= 1")
    check(_is_int(self.max_digits) and self.max_digits >= self.min_digits, "max_digits",
          f"an integer >= data.min_digits={self.min_digits}")
    check(_is_real(self.min_gap_ms) and self.min_gap_ms >= 0, "min_gap_ms", "a number >= 0")
    check(_is_real(self.max_gap_ms) and self.max_gap_ms >= self.min_gap_ms, "max_gap_ms",
          f"a number >= data.min_gap_ms={self.min_gap_ms}")
    check(self.split_rule in SPLIT_RULES, "split_rule",
          "one of " + ", ".join(repr(rule) for rule in SPLIT_RULES))
    # A held-out speaker under the recording rule would be silently ignored.
    check(isinstance(self.heldout_speaker, str)
          and (self.split_rule == "speaker" or not self.heldout_speaker), "heldout_speaker",
          "a speaker name, or '' (the first speaker); set only with data.split_rule='speaker'")
    check(_is_real(self.trim_db) and self.trim_db > 0, "trim_db", "a number of dB > 0")


@dataclasses.dataclass(frozen=True)
class Listing:
  """The recordings each split draws from and the hash that names the prepared copy."""
  source_dir: str
  # split -> speaker -> digit -> paths relative to source_dir, all sorted
  pools: dict[str, dict[str, tuple[tuple[str, ...], ...]]]
  key: str


def _find_recordings(folder: str) -> list[tuple[str, str, int, int]]:
  """(path relative to folder, speaker, digit, index) of every wav, sorted by path."""
  found, seen = [], {}
  for root, dirs, names in os.walk(folder):
    dirs.sort()
    for name in sorted(names):
      if not name.lower().endswith(".wav"):
        continue
      path = os.path.join(root, name)
      match = NAME.fullmatch(name)
      if match is None:
        raise ConfigError(f"{path}: not an FSDD-style name; expected "
                          "{digit}_{speaker}_{index}.wav, e.g. 7_jackson_32.wav")
      if name in seen:  # `sources` stores bare file names, so they must be unique
        raise ConfigError(f"{path} and {seen[name]} have the same file name; keep one")
      seen[name] = path
      found.append((os.path.relpath(path, folder), match["speaker"], int(match["digit"]),
                    int(match["index"])))
  return sorted(found)


def _span(indices: range | None) -> str:
  return "at all" if indices is None else f"with index {indices.start}-{indices.stop - 1}"


def list_recordings(spec: DigitsSpec) -> Listing:
  """Reads the folder's file names into per-split pools; ConfigError for what a user must fix."""
  folder = os.path.abspath(os.path.expanduser(spec.source_dir))
  if not os.path.isdir(folder):
    raise ConfigError(f"config key data.source_dir={spec.source_dir!r} is not a directory")
  recordings = _find_recordings(folder)
  if not recordings:
    raise ConfigError(f"config key data.source_dir={spec.source_dir!r}: no "
                      "{digit}_{speaker}_{index}.wav files found")
  speakers = sorted({speaker for _, speaker, _, _ in recordings})
  members = {split: speakers for split in SPLIT_IDS}
  if spec.split_rule == "speaker":
    heldout = spec.heldout_speaker or speakers[0]
    if heldout not in speakers:
      raise ConfigError(f"config key data.heldout_speaker={heldout!r}: no such speaker in "
                        f"{folder}; speakers found: " + ", ".join(speakers))
    others = [speaker for speaker in speakers if speaker != heldout]
    if not others:
      raise ConfigError(f"config key data.split_rule='speaker': {folder} has one speaker "
                        f"({heldout!r}); holding one out needs at least two")
    members = {"train": others, "validation": others, "test": [heldout]}

  by_speaker_digit: dict[tuple[str, int], list[tuple[str, int]]] = {}
  for rel, speaker, digit, index in recordings:  # sorted, so each list is too
    by_speaker_digit.setdefault((speaker, digit), []).append((rel, index))
  pools = {}
  for split in ("test", "validation", "train"):  # the order problems are reported in
    indices = RANGES[spec.split_rule][split]
    pools[split] = {}
    for speaker in members[split]:
      by_digit = tuple(
          tuple(rel for rel, index in by_speaker_digit.get((speaker, digit), ())
                if indices is None or index in indices)
          for digit in range(NUM_DIGITS))
      missing = [str(digit) for digit, rels in enumerate(by_digit) if not rels]
      if missing:
        raise ConfigError(f"{folder}: speaker {speaker!r} has no recording of digit"
                          f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"{_span(indices)} ({split} split)")
      pools[split][speaker] = by_digit

  options = {field.name: getattr(spec, field.name) for field in dataclasses.fields(spec)
             if field.name != "source_dir"}  # fingerprint hashes the folder itself
  key = fingerprint(folder, [os.path.join(folder, rel) for rel, _, _, _ in recordings],
                    version=str(ConnectedDigits.VERSION), **options)
  return Listing(folder, {split: pools[split] for split in SPLIT_IDS}, key)


def trim_bounds(audio_S: np.ndarray, sample_rate: int, trim_db: float) -> tuple[int, int]:
  """[start, end) of the samples the trim rule keeps (see the module docstring)."""
  frame = max(1, round(sample_rate * TRIM_FRAME_MS / 1000))
  num_frames = -(-len(audio_S) // frame)
  if num_frames == 0:
    return 0, 0
  padded_S = np.zeros(num_frames * frame)
  padded_S[:len(audio_S)] = audio_S
  # Mean square over each frame's own samples, so a short last frame is not diluted by padding.
  counts_F = np.full(num_frames, frame)
  counts_F[-1] = len(audio_S) - (num_frames - 1) * frame
  power_F = np.square(padded_S).reshape(num_frames, frame).sum(axis=1) / counts_F
  kept = np.flatnonzero(power_F >= power_F.max() * 10.0 ** (-trim_db / 10))
  return int(kept[0] * frame), int(min((kept[-1] + 1) * frame, len(audio_S)))


def replace_zeros(audio_S: np.ndarray) -> np.ndarray:
  """A copy with each exact 0 made +1 at even and -1 at odd positions."""
  out_S = audio_S.copy()
  zeros = np.flatnonzero(out_S == 0)
  out_S[zeros] = np.where(zeros % 2 == 0, 1, -1)
  return out_S


def _load_clips(listing: Listing, trim_db: float) -> tuple[dict[str, np.ndarray], int]:
  """{relative path: trimmed recording without zeros} of every pooled file, and the rate."""
  rels = sorted({rel for pool in listing.pools.values() for by_digit in pool.values()
                 for rels in by_digit for rel in rels})
  clips, first = {}, None
  for rel in rels:
    path = os.path.join(listing.source_dir, rel)
    audio_S, rate = read_wav(path)
    if first is None:
      first = (path, rate)
    elif rate != first[1]:
      raise ConfigError(f"{path}: sample rate {rate} Hz, but {first[0]} has {first[1]} Hz; "
                        "all recordings must share one rate")
    if len(audio_S) == 0:
      raise ConfigError(f"{path}: the wav holds no samples")
    start, end = trim_bounds(audio_S, rate, trim_db)
    clips[rel] = replace_zeros(audio_S[start:end])
  return clips, first[1]


def _join(clips: list[np.ndarray], gaps_G: np.ndarray,
          dither_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """gap, clip, gap, ..., clip, gap -> (int16 audio, [start, end) of each clip)."""
  noise_S = np.rint(dither_rng.normal(0.0, DITHER_STD, int(gaps_G.sum())))
  zeros = noise_S == 0
  noise_S[zeros] = dither_rng.choice((-1.0, 1.0), int(zeros.sum()))  # a random sign: no bias
  noise_S = np.clip(noise_S, -32768, 32767).astype(np.int16)
  pieces, segments, pos, used = [], [], 0, 0
  for k, gap in enumerate(gaps_G.tolist()):
    pieces.append(noise_S[used:used + gap])
    pos, used = pos + gap, used + gap
    if k < len(clips):
      pieces.append(clips[k])
      segments.append((pos, pos + len(clips[k])))
      pos += len(clips[k])
  return np.concatenate(pieces), np.array(segments, np.int32).reshape(-1, 2)


class ConnectedDigits(LocalSource, tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """One prepared copy per (folder state, spec): the config name is Listing.key."""

  NEEDS_TENSORFLOW = True  # read_wav decodes with tf.audio (builders.prepare checks)

  # 1.1.0: array_record files, read without TensorFlow (data/prepared.py)
  VERSION = tfds.core.Version("1.1.0")

  def __init__(self, *, spec: DigitsSpec, listing: Listing, **kwargs):
    self._spec, self._listing = spec, listing
    config = tfds.core.BuilderConfig(name=listing.key, description=listing.source_dir)
    super().__init__(config=config, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=f"connected digit strings from {self._listing.source_dir}",
        features=tfds.features.FeaturesDict({
            # Raw bytes, 2 a sample, as in AudioFolder.
            "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16, encoding="bytes"),
            "sample_rate": tfds.features.Scalar(dtype=np.int32),
            "digits": tfds.features.Tensor(shape=(None,), dtype=np.int32),
            "segments": tfds.features.Tensor(shape=(None, 2), dtype=np.int32),
            "speaker": tfds.features.Text(),
            "sources": tfds.features.Text(),
            "idx": tfds.features.Scalar(dtype=np.int32),
        }),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    # Read once for all splits; the recordings are small (FSDD: 21 MB in all).
    self._clips, self._rate = _load_clips(self._listing, self._spec.trim_db)
    return {split: self._generate_examples(split) for split in SPLIT_IDS}

  def _generate_examples(self, split):
    spec, pool = self._spec, self._listing.pools[split]
    speakers = sorted(pool)
    low, high = (round(ms * self._rate / 1000) for ms in (spec.min_gap_ms, spec.max_gap_ms))
    plan_rng = np.random.default_rng([spec.seed, SPLIT_IDS[split]])
    for i in range(getattr(spec, SPLIT_SIZES[split])):
      speaker = speakers[plan_rng.integers(len(speakers))]
      num_digits = int(plan_rng.integers(spec.min_digits, spec.max_digits + 1))
      digits_N = plan_rng.integers(0, NUM_DIGITS, num_digits)
      rels = [pool[speaker][d][plan_rng.integers(len(pool[speaker][d]))] for d in digits_N]
      gaps_G = plan_rng.integers(low, high + 1, num_digits + 1)
      dither_rng = np.random.default_rng([spec.seed, SPLIT_IDS[split], i])
      audio_S, segments_Nx2 = _join([self._clips[rel] for rel in rels], gaps_G, dither_rng)
      yield f"{split}-{i:06d}", {
          "audio": audio_S, "sample_rate": self._rate, "digits": digits_N.astype(np.int32),
          "segments": segments_Nx2, "speaker": speaker,
          "sources": " ".join(os.path.basename(rel) for rel in rels), "idx": i}


def prepare_connected_digits(spec: DigitsSpec, data_dir: str) -> ConnectedDigits:
  """The prepared builder for the spec and the folder's current state (prepared now if new)."""
  return prepare(ConnectedDigits(spec=spec, listing=list_recordings(spec), data_dir=data_dir))


def frame_labels(segments_Nx2: np.ndarray, digits_N: np.ndarray, num_frames: int,
                 frame_length: int, frame_step: int, silence: int = SILENCE) -> np.ndarray:
  """The int32 label of each frame: the digit whose segment holds the frame's centre.

  Frames are laid out as tf.signal.stft does without padding (frame t covers samples
  [t * frame_step, t * frame_step + frame_length)), so the centre of frame t is sample
  t * frame_step + frame_length // 2. A centre in no [start, end) segment is `silence`.
  """
  segments_Nx2, digits_N = np.asarray(segments_Nx2), np.asarray(digits_N)
  if segments_Nx2.shape != (len(digits_N), 2):
    raise ValueError(f"segments of shape {segments_Nx2.shape} for {len(digits_N)} digits; "
                     "expected one [start, end) row a digit")
  centres_T = np.arange(max(num_frames, 0)) * frame_step + frame_length // 2
  labels_T = np.full(len(centres_T), silence, np.int32)
  for (start, end), digit in zip(segments_Nx2.tolist(), digits_N.tolist()):
    labels_T[(centres_T >= start) & (centres_T < end)] = digit
  return labels_T
