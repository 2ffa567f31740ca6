"""Flax modules against the float64 reference for every merge mode and pooling; config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax import models
from bilstm_jax.config import ConfigError
from bilstm_jax.core import cudnn_lstm, lstm
from tests import reference
from tests.paths import CONFIGS_COMMON as common

B, T = 3, 6


def _model_cfg(**changes):
  cfg = common.base_config().model
  cfg.embed_dim, cfg.units = 5, 4
  for k, v in changes.items():
    cfg[k] = v
  return cfg


def _inputs(vocab=True):
  rng = np.random.default_rng(0)
  lengths = np.array([T, 2, 0], np.int32)
  if vocab:
    return rng.integers(1, 9, size=(B, T)).astype(np.int32), lengths
  return rng.normal(size=(B, T, 7)).astype(np.float32), lengths


def _f64(tree):
  return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def _merge_pair(merge, fwd, bwd):
  return np.concatenate([fwd, bwd], -1) if merge == "none" else reference.MERGES[merge](fwd, bwd)


def _attention_pool(params, y_BxTxF, lengths):
  w, b = params["project"]["kernel"], params["project"]["bias"]
  v = params["score"]["kernel"][:, 0]
  pooled = np.zeros((len(lengths), y_BxTxF.shape[-1]))
  for i, n in enumerate(lengths):
    if n:
      score = np.tanh(y_BxTxF[i, :n] @ w + b) @ v
      weight = np.exp(score - score.max())
      pooled[i] = (weight / weight.sum()) @ y_BxTxF[i, :n]
  return pooled


def _pool(y_BxTxF, h_DirxBxH, lengths, pooling, merge):
  valid = (np.arange(y_BxTxF.shape[1])[None, :] < lengths[:, None])[:, :, None]
  if pooling == "final":
    return _merge_pair(merge, h_DirxBxH[0], h_DirxBxH[1])
  mean = np.where(valid, y_BxTxF, 0).sum(1) / np.maximum(lengths, 1)[:, None]
  top = np.where(lengths[:, None] > 0, np.where(valid, y_BxTxF, -np.inf).max(1), 0.0)
  return {"mean": mean, "max": top, "mean_max": np.concatenate([mean, top], -1)}[pooling]


def reference_logits(params, inputs, lengths, cfg, task):
  """The model in float64 numpy: embedding or projection, reference.ours, pooling, head."""
  params = _f64(params)
  encoder = params["encoder"]
  if "embed" in encoder:
    x = encoder["embed"]["embedding"][inputs]
  else:
    x = inputs.astype(np.float64) @ encoder["project"]["kernel"] + encoder["project"]["bias"]
  out, h, _ = reference.ours(encoder["lstm"]["lstm"], x, lengths, cfg.merge)
  y = np.concatenate(out, -1) if isinstance(out, tuple) else out
  if task == "classification":
    if cfg.pooling == "attention":
      y = _attention_pool(params["attention"], y, lengths)
    else:
      y = _pool(y, h[-1], lengths, cfg.pooling, cfg.merge)
  return y @ params["head"]["kernel"] + params["head"]["bias"]


@pytest.mark.parametrize("merge", lstm.MERGE_MODES)
@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_every_merge_mode_matches_float64_reference(key, merge, task):
  info = {"task": task, "vocab_size": 10, "num_classes": 3}
  cfg = _model_cfg(merge=merge, num_layers=2)
  model = models.build_model(cfg, info)
  inputs, lengths = _inputs()
  params = model.init(key, inputs, lengths)["params"]
  logits = model.apply({"params": params}, inputs, lengths)
  assert logits.shape == ((B, T, 3) if task == "tagging" else (B, 3))
  assert logits.dtype == jnp.float32
  np.testing.assert_allclose(logits, reference_logits(params, inputs, lengths, cfg, task),
                             atol=1e-5)


@pytest.mark.parametrize("pooling", models.POOLINGS)
def test_classifier_on_frames_with_each_pooling(key, pooling):
  info = {"task": "classification", "vocab_size": None, "num_classes": 4}
  cfg = _model_cfg(pooling=pooling, dropout=0.3, num_layers=2, output_dropout=0.2)
  model = models.build_model(cfg, info)
  frames, lengths = _inputs(vocab=False)
  params = model.init(key, frames, lengths)["params"]
  np.testing.assert_allclose(model.apply({"params": params}, frames, lengths),
                             reference_logits(params, frames, lengths, cfg, "classification"),
                             atol=1e-5)
  out = model.apply({"params": params}, frames, lengths, train=True, rngs={"dropout": key})
  assert out.shape == (B, 4) and np.all(np.isfinite(out))


def test_pooling_reads_valid_steps_only():
  y = jnp.asarray(np.random.default_rng(1).normal(size=(B, T, 2)), jnp.float32)
  lengths = jnp.array([T, 2, 0])
  h = jnp.asarray(np.random.default_rng(3).normal(size=(2, B, 2)), jnp.float32)
  mean = models.pool(y, h, lengths, "mean", "concat")
  top = models.pool(y, h, lengths, "max", "concat")
  np.testing.assert_allclose(mean[1], y[1, :2].mean(0), rtol=1e-6)
  np.testing.assert_allclose(top[1], y[1, :2].max(0), rtol=1e-6)
  np.testing.assert_array_equal(models.pool(y, h, lengths, "mean_max", "concat"),
                                np.concatenate([mean, top], axis=-1))
  np.testing.assert_array_equal(mean[2], 0.0)
  np.testing.assert_array_equal(top[2], 0.0)
  np.testing.assert_allclose(models.pool(y, h, lengths, "final", "sum"), h[0] + h[1], rtol=1e-6)
  np.testing.assert_array_equal(models.pool(y, h, lengths, "final", "concat"),
                                np.concatenate([h[0], h[1]], -1))


def test_attention_pooling_equals_float64_reference_and_ignores_padding(key):
  rng = np.random.default_rng(2)
  y = rng.normal(size=(B, T, 6))
  lengths = np.array([T, 3, 0])
  module = models.AttentionPool()
  params = module.init(key, jnp.asarray(y, jnp.float32), jnp.asarray(lengths))["params"]
  got = np.asarray(module.apply({"params": params}, jnp.asarray(y, jnp.float32),
                                jnp.asarray(lengths)))
  w, b = (np.asarray(params["project"][k], np.float64) for k in ("kernel", "bias"))
  v = np.asarray(params["score"]["kernel"], np.float64)[:, 0]
  for i, n in enumerate(lengths):
    if n == 0:
      np.testing.assert_array_equal(got[i], 0.0)
      continue
    score = np.tanh(y[i, :n] @ w + b) @ v
    weight = np.exp(score - score.max())
    weight /= weight.sum()
    np.testing.assert_allclose(got[i], weight @ y[i, :n], rtol=1e-5, atol=1e-6)
  # Whatever sits in the padded steps (here inf and huge values) never reaches the result.
  junk = y.copy()
  junk[1, 3:] = 1e30
  junk[2] = np.inf
  again = module.apply({"params": params}, jnp.asarray(junk, jnp.float32), jnp.asarray(lengths))
  np.testing.assert_array_equal(np.asarray(again), got)


@pytest.mark.parametrize("key_name, value, message", [
    ("merge", "avg", r"model.merge: unknown merge mode 'avg'; allowed: concat, sum, mul, ave"),
    ("units", 0, r"model.units must be a positive integer"),
    ("num_layers", -1, r"model.num_layers must be a positive integer"),
    ("cell", "gru", r"model.cell: unknown cell 'gru'; allowed: lstm$"),
    ("dropout_kind", "gal",
     r"model.dropout_kind: unknown dropout kind 'gal'; allowed: standard, variational$"),
    ("pooling", "attn", r"model.pooling: unknown pooling 'attn'; allowed: final, mean, max"),
    ("scan_impl", "cuda", r"model.scan_impl: 'cuda'; allowed: custom_vjp, autodiff, cudnn"),
])
def test_bad_model_config_is_one_clear_error(key_name, value, message):
  with pytest.raises(ConfigError, match=message):
    models.build_model(_model_cfg(**{key_name: value}),
                       {"task": "tagging", "vocab_size": 5, "num_classes": 2})


def test_cudnn_scan_impl_refuses_a_low_precision_compute_dtype():
  with pytest.raises(ConfigError, match=r"model.scan_impl='cudnn' runs float32 only; got "
                                        r"model.compute_dtype='bfloat16'"):
    models.build_model(_model_cfg(scan_impl="cudnn", compute_dtype="bfloat16"),
                       {"task": "tagging", "vocab_size": 5, "num_classes": 2})


ON_CUDA = cudnn_lstm.cuda_available() and jax.default_backend() == "gpu"


@pytest.mark.parametrize("scan_impl", ["autodiff", pytest.param("cudnn", marks=pytest.mark.skipif(
    not ON_CUDA, reason="needs a CUDA GPU: elsewhere 'cudnn' is the custom_vjp scan itself"))])
def test_every_scan_impl_gives_the_default_model_outputs_and_gradients(key, scan_impl):
  info = {"task": "tagging", "vocab_size": 10, "num_classes": 3}
  inputs, lengths = _inputs()
  models_by_impl = {impl: models.build_model(_model_cfg(num_layers=2, scan_impl=impl), info)
                    for impl in ("custom_vjp", scan_impl)}
  params = models_by_impl["custom_vjp"].init(key, inputs, lengths)["params"]

  def loss(params, impl):
    logits = models_by_impl[impl].apply({"params": params}, inputs, lengths)
    return jnp.sum(jnp.sin(logits))

  for impl in models_by_impl:
    assert models_by_impl[impl].encoder.lstm.scan_impl == impl
  with jax.default_matmul_precision("highest"):  # not a GPU's TF32
    want, got = [jax.value_and_grad(loss)(params, impl) for impl in ("custom_vjp", scan_impl)]
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                         got[1], want[1])


def test_params_hold_the_core_layout(key):
  model = models.build_model(_model_cfg(num_layers=2, merge="sum"),
                             {"task": "tagging", "vocab_size": 10, "num_classes": 3})
  inputs, lengths = _inputs()
  params = model.init(key, inputs, lengths)["params"]
  core = params["encoder"]["lstm"]["lstm"]
  shapes = jax.tree_util.tree_map(lambda a: a.shape, core)
  assert shapes == {"layers": [
      {"w_ih": (2, 5, 16), "w_hh": (2, 4, 16), "b": (2, 16)},
      {"w_ih": (2, 4, 16), "w_hh": (2, 4, 16), "b": (2, 16)},
  ]}


@pytest.mark.parametrize("kind", ["standard", "variational"])
def test_dropout_kind_reaches_the_core(key, kind, monkeypatch):
  """build_model passes model.dropout_kind to lstm.bilstm; the default is 'standard'."""
  assert common.base_config().model.dropout_kind == "standard"  # existing runs unchanged
  seen = []
  bilstm = lstm.bilstm
  monkeypatch.setattr(lstm, "bilstm", lambda *a, **kw: seen.append(kw) or bilstm(*a, **kw))
  info = {"task": "tagging", "vocab_size": 10, "num_classes": 3}
  model = models.build_model(_model_cfg(num_layers=2, dropout=0.5, dropout_kind=kind), info)
  inputs, lengths = _inputs()
  params = model.init(key, inputs, lengths)["params"]
  model.apply({"params": params}, inputs, lengths, train=True, rngs={"dropout": key})
  assert [(kw["dropout_kind"], kw["dropout_rate"]) for kw in seen] == [(kind, 0.0), (kind, 0.5)]
