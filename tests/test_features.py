"""Speech features: shapes, a pure tone's mel bin, deltas, resampling, short clips, norms."""

import os

# Importing TF imports Keras, which fixes its backend once; test_interop_real needs jax.
os.environ.setdefault("KERAS_BACKEND", "jax")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bilstm_jax.config import ConfigError  # noqa: E402
from bilstm_jax.data import features  # noqa: E402


def make_spec(**overrides) -> features.FeatureSpec:
  fields = dict(kind="logmel", sample_rate=16000, frame_length_ms=25.0, frame_step_ms=10.0,
                num_mel_bins=40, num_mfcc=13, deltas=0)
  return features.FeatureSpec(**{**fields, **overrides})


def tone(freq_hz: float, seconds: float, rate: int) -> np.ndarray:
  return (0.5 * np.sin(2 * np.pi * freq_hz * np.arange(int(seconds * rate)) / rate)).astype(
      np.float32)


@pytest.mark.parametrize("kind,deltas,dim", [("logmel", 0, 40), ("logmel", 2, 120),
                                             ("mfcc", 0, 13), ("mfcc", 1, 26)])
def test_shapes(kind, deltas, dim):
  spec = make_spec(kind=kind, deltas=deltas)
  x_TxF = features.compute_features(tone(440, 0.5, 16000), spec, "tone.wav")
  # 25 ms / 10 ms at 16 kHz: 400-sample frames every 160 samples, no end padding.
  assert x_TxF.shape == (1 + (8000 - 400) // 160, dim) == (48, spec.feature_dim)
  assert x_TxF.dtype == np.float32 and np.isfinite(x_TxF).all()


def test_pure_tone_peaks_in_its_mel_bin():
  spec = make_spec()
  log_mel_TxM = features.compute_features(tone(1000, 0.5, 16000), spec, "tone.wav")
  # Centres of tf.signal's HTK-mel triangles between 20 Hz and Nyquist.
  def mel(hz):
    return 1127.0 * math.log1p(hz / 700.0)

  centres_mel = np.linspace(mel(20.0), mel(8000.0), spec.num_mel_bins + 2)[1:-1]
  assert log_mel_TxM.mean(axis=0).argmax() == np.abs(centres_mel - mel(1000.0)).argmin()


def test_deltas_of_constant_are_zero_and_of_a_ramp_are_its_slope():
  constant_TxF = np.full((10, 3), 7.0, np.float32)
  np.testing.assert_array_equal(features.add_deltas(constant_TxF, 2)[:, 3:], 0.0)
  ramp_TxF = np.repeat(np.arange(10, dtype=np.float32)[:, None] * 0.5, 2, axis=1)
  out = features.add_deltas(ramp_TxF, 1)
  assert out.shape == (10, 4)
  # Away from the repeated edge frames the regression slope is exact.
  np.testing.assert_allclose(out[2:-2, 2:], 0.5, rtol=1e-6)


def test_resample_keeps_the_tone_and_refusal_names_file_and_rates():
  spec = make_spec(sample_rate=16000)
  wave_S = features.match_rate(tone(1000, 0.5, 8000), 8000, spec, True, "low.wav")
  assert wave_S.shape == (8000,) and wave_S.dtype == np.float32
  # Compared below 3.5 kHz: the polyphase filter leaves faint images near the new Nyquist.
  np.testing.assert_allclose(
      features.compute_features(wave_S, spec, "low.wav")[5:-5, :28],
      features.compute_features(tone(1000, 0.5, 16000), spec, "ref.wav")[5:-5, :28], atol=0.05)
  with pytest.raises(ConfigError, match=r"low\.wav.*8000 Hz.*16000 Hz.*data\.resample"):
    features.match_rate(tone(1000, 0.5, 8000), 8000, spec, False, "low.wav")


def test_shorter_than_one_frame_is_refused_with_the_file_name():
  spec = make_spec()
  assert features.compute_features(np.zeros(400, np.float32), spec, "ok.wav").shape == (1, 40)
  with pytest.raises(ConfigError, match=r"clip\.wav: 399 samples.*frame_length_ms"):
    features.compute_features(np.zeros(399, np.float32), spec, "clip.wav")


def test_int16_audio_is_scaled_to_unit_range():
  np.testing.assert_allclose(features.to_float_wave(np.array([-32768, 16384], np.int16)),
                             [-1.0, 0.5])


def test_normalisation():
  rng = np.random.default_rng(0)
  xs = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (20, 30)]
  for x in map(features.normalize_utterance, xs):
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-4)
  mean_F, std_F = features.global_stats(xs)
  joined = np.concatenate([features.normalize_global(x, mean_F, std_F) for x in xs])
  np.testing.assert_allclose(joined.mean(axis=0), 0.0, atol=1e-5)
  np.testing.assert_allclose(joined.std(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("overrides,key", [
    ({"kind": "spectrogram"}, "data.features"),
    ({"kind": "mfcc", "num_mfcc": 41}, "data.num_mfcc"),
    ({"deltas": 3}, "data.deltas"),
    ({"frame_step_ms": 30.0}, "data.frame_length_ms"),
])
def test_bad_settings_name_the_config_key(overrides, key):
  with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
    make_spec(**overrides)
