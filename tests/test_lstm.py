"""The pure-JAX core against the float64 numpy reference, padding, directionality, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax.core import lstm
from tests import reference

B, T, D, H = 5, 7, 3, 4


def _random_batch(seed, batch=B, num_steps=T):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(batch, num_steps, D)).astype(np.float32)
  lengths = rng.integers(1, num_steps + 1, size=batch)
  lengths[0], lengths[-1] = 1, num_steps  # always include the extremes
  return x, lengths.astype(np.int32)


def _params(key, num_layers, bidirectional, merge_mode):
  params = lstm.init_params(key, D, H, num_layers, bidirectional=bidirectional,
                            merge_mode=merge_mode)
  # Random biases too, so the bias path is checked (init makes them zero/one).
  return jax.tree_util.tree_map(
      lambda p: p + 0.1 * jax.random.normal(jax.random.fold_in(key, p.size), p.shape), params)


# Every merge mode bidirectional; forward-only ignores the merge mode, so once.
CASES = [(m, True) for m in lstm.MERGE_MODES] + [("concat", False)]


@pytest.mark.parametrize("merge_mode, bidirectional", CASES)
@pytest.mark.parametrize("num_layers", [1, 3])
def test_matches_float64_reference(key, merge_mode, num_layers, bidirectional):
  params = _params(key, num_layers, bidirectional, merge_mode)
  x, lengths = _random_batch(num_layers)
  out, state = jax.jit(lambda p, x, n: lstm.bilstm(p, x, n, merge_mode, return_state=True))(
      params, x, lengths)
  want, want_h, want_c = reference.ours(params, x, lengths,
                                        merge_mode if bidirectional else "concat")
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-6), out, want)
  np.testing.assert_allclose(state["h"], want_h, atol=2e-6)
  np.testing.assert_allclose(state["c"], want_c, atol=2e-6)
  width = H * (2 if bidirectional and merge_mode in ("concat",) else 1)
  leaves = jax.tree_util.tree_leaves(out)
  assert all(leaf.shape == (B, T, width) for leaf in leaves)
  assert all(leaf.dtype == jnp.float32 for leaf in leaves)


def _position_merge(fwd, bwd):
  """Not symmetric in B and T: weights fwd by its time index, so a time-major call is wrong.

  Only operators and numpy constants, so the float64 reference runs it in float64."""
  position = np.arange(fwd.shape[1], dtype=np.float32).reshape(1, -1, 1)
  return fwd * (1.0 + 0.5 * position) - bwd + 0.25  # and maps padding (0, 0) to non-zero


@pytest.mark.parametrize("num_layers", [1, 2])
def test_callable_merge_gets_batch_major_halves(key, num_layers):
  params = _params(key, num_layers, True, _position_merge)
  x, lengths = _random_batch(3)  # B=5, T=7: a time-major call cannot pass
  shapes = []

  def merge(fwd, bwd):
    shapes.append((fwd.shape, bwd.shape))
    return _position_merge(fwd, bwd)

  out, state = lstm.bilstm(params, x, lengths, merge, return_state=True)
  want, want_h, _ = reference.ours(params, x, lengths, _position_merge)
  assert shapes == [((B, T, H), (B, T, H))] * num_layers
  np.testing.assert_allclose(out, want, atol=1e-5)
  np.testing.assert_allclose(state["h"], want_h, atol=1e-5)
  valid = (np.arange(T)[None, :] < lengths[:, None])[..., None]
  assert np.all(np.asarray(out)[~np.broadcast_to(valid, out.shape)] == 0.0)


def test_unknown_merge_mode_error(key):
  params = _params(key, 1, True, "concat")
  x, lengths = _random_batch(0)
  with pytest.raises(ValueError, match=r"unknown merge_mode 'avg'.*'concat', 'sum', 'mul', 'ave', 'none'"):
    lstm.bilstm(params, x, lengths, "avg")


def test_zero_length_gives_zeros_not_nan(key):
  params = _params(key, 2, True, "concat")
  x, _ = _random_batch(1)
  lengths = np.array([0, 3, 0, T, 1], np.int32)

  def loss(p, x):
    out, state = lstm.bilstm(p, x, lengths, return_state=True)
    return jnp.sum(out ** 2) + jnp.sum(state["h"] ** 2)

  out, state = lstm.bilstm(params, x, lengths, return_state=True)
  assert np.all(np.asarray(out)[lengths == 0] == 0.0)
  assert np.all(np.asarray(state["h"])[:, :, lengths == 0] == 0.0)
  grads = jax.grad(loss, argnums=(0, 1))(params, x)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
  assert np.all(np.asarray(grads[1])[lengths == 0] == 0.0)


@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_padding_invariance(key, merge_mode):
  params = _params(key, 2, True, merge_mode)
  x, lengths = _random_batch(4)
  extra = np.random.default_rng(9).normal(size=(B, 5, D)).astype(np.float32)
  x_long = np.concatenate([x, extra], axis=1)
  # Garbage (not zeros) in the padding of the short batch too.
  pad = np.arange(T)[None, :, None] >= lengths[:, None, None]
  x_noisy = np.where(pad, 7.0, x).astype(np.float32)

  def loss(p, x):
    out = lstm.bilstm(p, x, lengths, merge_mode)
    weights = jnp.arange(1, out.shape[-1] + 1, dtype=out.dtype)
    return jnp.sum(out[:, :T] * weights[None, None])

  out_short = lstm.bilstm(params, x, lengths, merge_mode)
  out_long = lstm.bilstm(params, x_long, lengths, merge_mode)
  # Same values; a longer T changes the matmul blocking, hence float32 rounding only.
  np.testing.assert_allclose(out_long[:, :T], out_short, rtol=1e-6, atol=1e-7)
  np.testing.assert_array_equal(lstm.bilstm(params, x_noisy, lengths, merge_mode), out_short)
  assert np.all(np.asarray(out_long)[:, T:] == 0.0)
  g_short = jax.grad(loss)(params, x)
  g_long = jax.grad(loss)(params, x_long)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         g_short, g_long)


def test_directionality(key):
  params = _params(key, 1, True, "none")
  x, lengths = _random_batch(5)
  lengths[:] = T

  def half_at(direction, t):
    return lambda x: jnp.sum(lstm.bilstm(params, x, lengths, "none")[direction][:, t])

  for t in range(T):
    g_fwd = np.asarray(jax.grad(half_at(0, t))(x))
    g_bwd = np.asarray(jax.grad(half_at(1, t))(x))
    assert np.all(g_fwd[:, t + 1:] == 0.0), f"forward output at {t} sees the future"
    assert np.all(g_bwd[:, :t] == 0.0), f"backward output at {t} sees the past"
    assert np.any(g_fwd[:, :t + 1] != 0.0) and np.any(g_bwd[:, t:] != 0.0)


def test_forward_only_stack_is_causal(key):
  # Stacked bidirectional layers mix directions (layer 2 reads layer 1's backward half), so
  # causality holds for the whole stack only when every layer is forward-only.
  params = _params(key, 3, False, "concat")
  x, lengths = _random_batch(5)
  for t in range(T):
    g = np.asarray(jax.grad(lambda x: jnp.sum(lstm.bilstm(params, x, lengths)[:, t]))(x))
    assert np.all(g[:, t + 1:] == 0.0), f"output at {t} sees the future"


def test_backward_direction_respects_lengths(key):
  """The backward half at a valid step never sees padding, however short the sequence."""
  params = _params(key, 1, True, "none")
  x, lengths = _random_batch(6)

  def bwd_sum(x):
    return jnp.sum(lstm.bilstm(params, x, lengths, "none")[1])

  g = np.asarray(jax.grad(bwd_sum)(x))
  pad = np.arange(T)[None, :] >= lengths[:, None]
  assert np.all(g[pad] == 0.0)


def test_batch_equals_vmapped_examples(key):
  params = _params(key, 2, True, "concat")
  x, lengths = _random_batch(7)
  batched = lstm.bilstm(params, x, lengths)
  per_example = jax.vmap(lambda xi, ni: lstm.bilstm(params, xi[None], ni[None])[0])(x, lengths)
  np.testing.assert_allclose(batched, per_example, atol=1e-6)


@pytest.mark.parametrize("kind", lstm.DROPOUT_KINDS)
def test_dropout_between_layers_matches_float64_reference(key, kind):
  """The second layer reads the first one's outputs times the mask `lstm.dropout` draws."""
  params = _params(key, 2, True, "concat")
  x, lengths = _random_batch(8)
  rate = 0.4
  out = lstm.bilstm(params, x, lengths, dropout_rate=rate, dropout_rng=key, dropout_kind=kind)
  scale_TxBxF = lstm.dropout(jnp.ones((T, B, 2 * H)), rate, jax.random.fold_in(key, 1), kind)
  scale_BxTxF = np.transpose(np.asarray(scale_TxBxF), (1, 0, 2))
  want, _, _ = reference.ours(params, x, lengths, input_scales={1: scale_BxTxF})
  np.testing.assert_allclose(out, want, atol=2e-6)
  np.testing.assert_array_equal(
      out, lstm.bilstm(params, x, lengths, dropout_rate=rate, dropout_rng=key, dropout_kind=kind))
  with pytest.raises(ValueError, match="dropout_rng"):
    lstm.bilstm(params, x, lengths, dropout_rate=rate)
  with pytest.raises(ValueError, match="unknown dropout_kind 'gal'; allowed: standard, var"):
    lstm.bilstm(params, x, lengths, dropout_rate=rate, dropout_rng=key, dropout_kind="gal")


@pytest.mark.parametrize("kind", lstm.DROPOUT_KINDS)
def test_dropout_masks_per_step_or_per_sequence_with_inverted_scaling(key, kind):
  rate, num_steps, batch, features = 0.3, 40, 50, 30
  x = jnp.asarray(np.random.default_rng(0).uniform(1, 2, (num_steps, batch, features)),
                  jnp.float32)
  y = np.asarray(lstm.dropout(x, rate, key, kind))
  dropped = y == 0.0
  # Kept values are scaled so the expected input is unchanged; the rest are exactly zero.
  np.testing.assert_allclose(y[~dropped], np.asarray(x)[~dropped] / (1 - rate), rtol=1e-6)
  same_every_step = np.all(dropped == dropped[:1], axis=0)  # per (sequence, feature)
  if kind == "variational":
    assert same_every_step.all()
    draws = dropped[0]  # B * F independent draws
  else:
    assert not same_every_step.any()  # 40 steps agreeing by chance: 0.3^40 + 0.7^40
    draws = dropped
  assert abs(draws.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / draws.size)
  ones = np.asarray(lstm.dropout(jnp.ones((num_steps, batch, features)), rate, key, kind))
  assert abs(ones.mean() - 1.0) < 4 * np.sqrt(rate / (1 - rate) / draws.size)


def test_standard_dropout_draws_what_it_always_drew(key):
  """Existing runs stay bit for bit: the mask is the one the inline code drew before
  dropout_kind existed (bernoulli over the whole time-major input, fold_in of the layer)."""
  params = _params(key, 3, True, "concat")
  x, lengths = _random_batch(9)
  layer_in = np.transpose(lstm.bilstm({"layers": params["layers"][:1]}, x, lengths), (1, 0, 2))
  keep = jax.random.bernoulli(jax.random.fold_in(key, 1), 1.0 - 0.5, layer_in.shape)
  np.testing.assert_array_equal(lstm.dropout(layer_in, 0.5, jax.random.fold_in(key, 1)),
                                jnp.where(keep, layer_in / (1.0 - 0.5), 0.0))


def test_bfloat16_compute_close_to_float32(key):
  params = _params(key, 2, True, "concat")
  x, lengths = _random_batch(10)
  full = lstm.bilstm(params, x, lengths)
  half = lstm.bilstm(params, x, lengths, compute_dtype=jnp.bfloat16)
  assert half.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(half, np.float32), full, atol=5e-2)


@pytest.mark.parametrize("bad", [0, -3])
def test_init_rejects_non_positive_sizes(key, bad):
  with pytest.raises(ValueError, match="units must be a positive integer"):
    lstm.init_params(key, D, bad)


def _weighted_loss(out):
  leaves = jax.tree_util.tree_leaves(out)
  return sum(jnp.sum(y * jnp.sin(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape))
             for y in leaves)


@pytest.mark.parametrize("merge_mode, bidirectional", [("concat", True), ("mul", True),
                                                       ("none", True), ("concat", False)])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_custom_vjp_equals_autodiff_in_float64(key, merge_mode, bidirectional, num_layers):
  x, lengths = _random_batch(11)
  lengths[1] = 0
  with jax.enable_x64(True):
    params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64),
                                    _params(key, num_layers, bidirectional, merge_mode))
    x64 = jnp.asarray(x, jnp.float64)

    def loss(p, x, impl):
      out, state = lstm.bilstm(p, x, lengths, merge_mode, return_state=True, scan_impl=impl)
      return _weighted_loss(out) + jnp.sum(state["h"] * 0.3) + jnp.sum(state["c"] * 0.7)

    fast = jax.grad(loss, argnums=(0, 1))(params, x64, "custom_vjp")
    plain = jax.grad(loss, argnums=(0, 1))(params, x64, "autodiff")
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12),
                         fast, plain)


def test_custom_vjp_gradient_matches_numpy_finite_differences(key):
  """Gradients of the fast path against central differences of the float64 numpy reference."""
  params = _params(key, 2, True, "concat")
  x, lengths = _random_batch(12)
  weights = np.sin(np.arange(B * T * 2 * H)).reshape(B, T, 2 * H)

  def ref_loss(p):
    return float(np.sum(reference.ours(p, x, lengths)[0] * weights))

  with jax.enable_x64(True):
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    grads = jax.grad(lambda p: jnp.sum(lstm.bilstm(p, jnp.asarray(x, jnp.float64), lengths)
                                       * weights))(p64)
  rng = np.random.default_rng(0)
  eps = 1e-6
  for layer in range(2):
    for name in ("w_ih", "w_hh", "b"):
      base = np.asarray(p64["layers"][layer][name])
      for _ in range(3):
        idx = tuple(rng.integers(0, n) for n in base.shape)
        bumped = [jax.tree_util.tree_map(np.asarray, p64) for _ in range(2)]
        for sign, p in zip((1, -1), bumped):
          p["layers"][layer][name] = base.copy()
          p["layers"][layer][name][idx] += sign * eps
        numeric = (ref_loss(bumped[0]) - ref_loss(bumped[1])) / (2 * eps)
        np.testing.assert_allclose(grads["layers"][layer][name][idx], numeric, rtol=1e-5,
                                   atol=1e-8)


def test_jitted_init_of_a_deep_wide_stack_completes():
  # Regression: separate QRs per layer inside one jit deadlocked XLA:CPU; run it in a child
  # process so a regression fails by timeout instead of hanging the suite.
  import subprocess
  import sys
  code = ("import jax; from bilstm_jax.core import lstm; "
          "p = jax.jit(lambda k: lstm.init_params(k, 32, 256, 3))(jax.random.PRNGKey(0)); "
          "print(float(p['layers'][2]['w_hh'].sum()))")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        check=False, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
