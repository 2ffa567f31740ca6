"""Speech features with tf.signal: log-mel or MFCC frames, deltas, resampling, normalisation.

TensorFlow is imported only to compute features; a run that reads them from the cache
(data/speech.py) never loads it.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import scipy.signal

from bilstm_jax.config import ConfigError

KINDS = ("logmel", "mfcc")
NORMALIZERS = ("utterance", "global", "none")
LOG_OFFSET = 1e-6  # log(0) guard; far below the power of any audible frame
LOWER_EDGE_HZ = 20.0  # Kaldi's default low cut-off; the upper edge is Nyquist
DELTA_WINDOW = 2  # N in the regression d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)
# A dimension stuck at the log floor (silence) has only rounding noise; dividing by its tiny
# std would blow that noise up, so such a dimension normalises to about 0 instead.
STD_FLOOR = 1e-3
FEATURES_VERSION = 1  # bump when the numerics change so old caches are not reused


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
  """Everything that determines the features of one waveform (and so the cache key)."""
  kind: str
  sample_rate: int
  frame_length_ms: float
  frame_step_ms: float
  num_mel_bins: int
  num_mfcc: int
  deltas: int

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ConfigError(f"config key data.features: unknown {self.kind!r}; allowed: "
                        + ", ".join(KINDS))
    if self.sample_rate <= 0:
      raise ConfigError(f"config key data.sample_rate must be positive, got {self.sample_rate}")
    if not 0 < self.frame_step_ms <= self.frame_length_ms:
      raise ConfigError("config keys data.frame_length_ms/frame_step_ms need 0 < step <= "
                        f"length, got {self.frame_length_ms}, {self.frame_step_ms}")
    if self.frame_length < 2:
      raise ConfigError(f"config key data.frame_length_ms={self.frame_length_ms} is under two "
                        f"samples at data.sample_rate={self.sample_rate}")
    if self.num_mel_bins < 1:
      raise ConfigError(f"config key data.num_mel_bins must be >= 1, got {self.num_mel_bins}")
    if self.kind == "mfcc" and not 1 <= self.num_mfcc <= self.num_mel_bins:
      raise ConfigError(f"config key data.num_mfcc must be in 1..data.num_mel_bins "
                        f"({self.num_mel_bins}), got {self.num_mfcc}")
    if self.deltas not in (0, 1, 2):
      raise ConfigError(f"config key data.deltas must be 0, 1 or 2, got {self.deltas}")

  @property
  def frame_length(self) -> int:
    return round(self.sample_rate * self.frame_length_ms / 1000)

  @property
  def frame_step(self) -> int:
    return max(1, round(self.sample_rate * self.frame_step_ms / 1000))

  @property
  def fft_length(self) -> int:
    return 2 ** math.ceil(math.log2(self.frame_length))

  @property
  def feature_dim(self) -> int:
    base = self.num_mfcc if self.kind == "mfcc" else self.num_mel_bins
    return base * (self.deltas + 1)

  def key(self) -> dict:
    """The settings that change the cached numbers (num_mfcc only matters for mfcc)."""
    fields = dataclasses.asdict(self)
    if self.kind != "mfcc":
      fields.pop("num_mfcc")
    return {**fields, "version": FEATURES_VERSION}


def spec_from_config(data_cfg) -> FeatureSpec:
  """The `data` config section's feature keys, checked."""
  return FeatureSpec(kind=data_cfg.features, sample_rate=int(data_cfg.sample_rate),
                     frame_length_ms=float(data_cfg.frame_length_ms),
                     frame_step_ms=float(data_cfg.frame_step_ms),
                     num_mel_bins=int(data_cfg.num_mel_bins), num_mfcc=int(data_cfg.num_mfcc),
                     deltas=int(data_cfg.deltas))


def to_float_wave(audio_S: np.ndarray) -> np.ndarray:
  """Integer samples are 16-bit PCM (what decode_wav and the TFDS speech sets store)."""
  if np.issubdtype(audio_S.dtype, np.integer):
    return audio_S.astype(np.float32) / 32768.0
  return audio_S.astype(np.float32)


def match_rate(wave_S: np.ndarray, rate: int, spec: FeatureSpec, allow: bool,
               name: str) -> np.ndarray:
  """Resamples to spec.sample_rate with a polyphase filter, or refuses when not `allow`."""
  if rate == spec.sample_rate:
    return wave_S
  if not allow:
    raise ConfigError(f"{name}: sample rate {rate} Hz but config key data.sample_rate is "
                      f"{spec.sample_rate} Hz and data.resample is False; set one of them")
  g = math.gcd(rate, spec.sample_rate)
  return scipy.signal.resample_poly(wave_S, spec.sample_rate // g, rate // g).astype(np.float32)


def _tensorflow():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  return tf


@functools.lru_cache(maxsize=8)
def _base_featurizer(spec: FeatureSpec):
  """One traced tf.function per spec: a waveform of any length -> log-mel or MFCC frames."""
  tf = _tensorflow()
  mel_weights_KxM = tf.signal.linear_to_mel_weight_matrix(
      spec.num_mel_bins, spec.fft_length // 2 + 1, spec.sample_rate, LOWER_EDGE_HZ,
      spec.sample_rate / 2)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
  def featurize(wave_S):
    stft_TxK = tf.signal.stft(wave_S, spec.frame_length, spec.frame_step, spec.fft_length,
                              window_fn=tf.signal.hann_window, pad_end=False)
    power_TxK = tf.math.square(tf.math.abs(stft_TxK))
    log_mel_TxM = tf.math.log(tf.matmul(power_TxK, mel_weights_KxM) + LOG_OFFSET)
    if spec.kind == "mfcc":
      return tf.signal.mfccs_from_log_mel_spectrograms(log_mel_TxM)[:, :spec.num_mfcc]
    return log_mel_TxM

  return featurize


def add_deltas(x_TxF: np.ndarray, order: int, window: int = DELTA_WINDOW) -> np.ndarray:
  """Appends `order` regression deltas; edge frames are repeated so T is unchanged."""
  blocks = [x_TxF]
  norm = 2 * sum(n * n for n in range(1, window + 1))
  for _ in range(order):
    prev_TxF = blocks[-1]
    T = len(prev_TxF)
    padded = np.pad(prev_TxF, ((window, window), (0, 0)), mode="edge")
    delta_TxF = sum(n * (padded[window + n:window + n + T] - padded[window - n:window - n + T])
                    for n in range(1, window + 1)) / norm
    blocks.append(delta_TxF.astype(np.float32))
  return np.concatenate(blocks, axis=1)


def compute_features(wave_S: np.ndarray, spec: FeatureSpec, name: str) -> np.ndarray:
  """A float waveform at spec.sample_rate -> [T, spec.feature_dim] float32."""
  if len(wave_S) < spec.frame_length:
    # Refused rather than padded: a clip shorter than one frame is almost always a broken file.
    raise ConfigError(
        f"{name}: {len(wave_S)} samples ({1000 * len(wave_S) / spec.sample_rate:.1f} ms) is "
        f"shorter than one frame of config key data.frame_length_ms={spec.frame_length_ms}; "
        "remove the file or lower data.frame_length_ms")
  tf = _tensorflow()
  base_TxF = _base_featurizer(spec)(tf.constant(wave_S, tf.float32)).numpy()
  return add_deltas(base_TxF, spec.deltas)


def normalize_utterance(x_TxF: np.ndarray) -> np.ndarray:
  """Per-utterance mean and variance normalisation of every feature dimension."""
  x_TxF = x_TxF.astype(np.float64)
  std_F = np.maximum(x_TxF.std(axis=0), STD_FLOOR)
  return ((x_TxF - x_TxF.mean(axis=0)) / std_F).astype(np.float32)


def global_stats(xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Mean and std per feature dimension over every frame of `xs` (float64 sums)."""
  frames_NxF = np.concatenate(xs, axis=0).astype(np.float64)
  return frames_NxF.mean(axis=0), np.maximum(frames_NxF.std(axis=0), STD_FLOOR)


def normalize_global(x_TxF: np.ndarray, mean_F: np.ndarray, std_F: np.ndarray) -> np.ndarray:
  """Normalises with statistics from the training split (see global_stats)."""
  return ((x_TxF - mean_F) / std_F).astype(np.float32)
