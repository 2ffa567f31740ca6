"""Weight converters: round trips, PyTorch and Keras semantics via the numpy references, errors."""

import jax
import numpy as np
import pytest

from bilstm_jax import interop
from bilstm_jax.core import lstm
from tests import reference

B, T, D, H = 5, 6, 3, 4
KERAS_MODES = ("concat", "sum", "mul", "ave", "none")


def _batch(seed, empty=False):
  """Random inputs and lengths with 1 and T (and 0 if `empty`: Keras allows it, packing not)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(B, T, D)).astype(np.float32)
  lengths = rng.integers(1, T + 1, size=B)
  lengths[0], lengths[-1] = 1, T  # always include the extremes
  if empty:
    lengths[1] = 0
  return x, lengths.astype(np.int32)


def _params(seed, num_layers, bidirectional):
  rng = np.random.default_rng(seed)
  num_dirs = 2 if bidirectional else 1
  layers = []
  for layer in range(num_layers):
    in_size = D if layer == 0 else num_dirs * H
    layers.append({
        "w_ih": rng.normal(size=(num_dirs, in_size, 4 * H)).astype(np.float32),
        "w_hh": rng.normal(size=(num_dirs, H, 4 * H)).astype(np.float32),
        "b": rng.normal(size=(num_dirs, 4 * H)).astype(np.float32),
    })
  return {"layers": layers}


def _torch_state_dict(seed, num_layers, bidirectional):
  """A random nn.LSTM(D, H, num_layers, bidirectional).state_dict() in numpy."""
  rng = np.random.default_rng(seed)
  num_dirs = 2 if bidirectional else 1
  sd = {}
  for layer in range(num_layers):
    in_size = D if layer == 0 else num_dirs * H
    for suffix in [""] + (["_reverse"] if bidirectional else []):
      s = f"_l{layer}{suffix}"
      sd["weight_ih" + s] = 0.5 * rng.normal(size=(4 * H, in_size)).astype(np.float32)
      sd["weight_hh" + s] = 0.5 * rng.normal(size=(4 * H, H)).astype(np.float32)
      sd["bias_ih" + s] = 0.5 * rng.normal(size=4 * H).astype(np.float32)
      sd["bias_hh" + s] = 0.5 * rng.normal(size=4 * H).astype(np.float32)
  return sd


def _keras_weights(seed, in_size=D):
  """A random Bidirectional(LSTM(H)).get_weights(): [kernel, recurrent, bias] fw then bw."""
  rng = np.random.default_rng(seed)
  shapes = [(in_size, 4 * H), (H, 4 * H), (4 * H,)] * 2
  return [0.5 * rng.normal(size=s).astype(np.float32) for s in shapes]


def _assert_params_equal(got, want):
  assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
  for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_torch_round_trip(num_layers, bidirectional):
  params = _params(num_layers, num_layers, bidirectional)
  _assert_params_equal(interop.from_torch(interop.to_torch(params)), params)

  sd = _torch_state_dict(num_layers, num_layers, bidirectional)
  back = interop.to_torch(interop.from_torch(sd))
  assert sorted(back) == sorted(sd)
  for name, value in sd.items():
    assert back[name].shape == value.shape and back[name].dtype == value.dtype, name
    if name.startswith("weight"):
      np.testing.assert_array_equal(back[name], value)
  for name in (k for k in sd if k.startswith("bias_ih")):
    other = name.replace("bias_ih", "bias_hh")
    np.testing.assert_array_equal(back[name] + back[other], sd[name] + sd[other])


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_from_torch_matches_packed_sequence_reference(num_layers, bidirectional):
  sd = _torch_state_dict(10 + num_layers, num_layers, bidirectional)
  x, lengths = _batch(num_layers)
  out = lstm.bilstm(interop.from_torch(sd), x, lengths, "concat")
  want = reference.torch_lstm(sd, x, lengths)
  assert out.shape == (B, T, H * (2 if bidirectional else 1))
  np.testing.assert_allclose(out, want, atol=1e-5)


def test_from_torch_without_biases_is_zero_bias():
  """nn.LSTM(bias=False) has no bias keys; that is the same function as zero biases."""
  sd = _torch_state_dict(3, 2, True)
  no_bias = {k: v for k, v in sd.items() if k.startswith("weight")}
  params = interop.from_torch(no_bias)
  for layer in params["layers"]:
    assert layer["b"].shape == (2, 4 * H) and layer["b"].dtype == np.float32
    assert not layer["b"].any()
  zero_bias = {k: (np.zeros_like(v) if k.startswith("bias") else v) for k, v in sd.items()}
  x, lengths = _batch(3)
  np.testing.assert_allclose(lstm.bilstm(params, x, lengths),
                             reference.torch_lstm(zero_bias, x, lengths), atol=1e-5)


@pytest.mark.parametrize("merge_mode", KERAS_MODES)
def test_from_keras_matches_masked_reference(merge_mode):
  weights = _keras_weights(KERAS_MODES.index(merge_mode))
  x, lengths = _batch(20, empty=True)
  mask = np.arange(T)[None, :] < lengths[:, None]
  out = lstm.bilstm(interop.from_keras(weights), x, lengths, merge_mode)
  want = reference.keras_bidirectional(weights, x, mask, merge_mode)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), out, want)


def test_from_keras_plain_lstm_is_forward_only():
  weights = _keras_weights(4)[:3]
  params = interop.from_keras(weights)
  assert params["layers"][0]["w_hh"].shape == (1, H, 4 * H)
  x, lengths = _batch(21)
  want = reference.keras_bidirectional(weights * 2, x, np.arange(T)[None, :] < lengths[:, None],
                                       "none")[0]
  np.testing.assert_allclose(lstm.bilstm(params, x, lengths), want, atol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_keras_round_trip(num_layers, bidirectional):
  params = _params(30 + num_layers, num_layers, bidirectional)
  weights = interop.to_keras(params)
  assert len(weights) == num_layers * (6 if bidirectional else 3)
  if bidirectional:
    assert [w.shape for w in weights[:6]] == [(D, 4 * H), (H, 4 * H), (4 * H,)] * 2
  # from_keras reads 6 arrays as one Bidirectional layer, never as two stacked plain LSTMs.
  if num_layers == 1 or bidirectional:
    _assert_params_equal(interop.from_keras(weights), params)


def test_to_keras_inverts_from_keras_for_stacked_layers():
  """Two stacked Bidirectional layers: the concatenation of their get_weights() lists."""
  keras_weights = _keras_weights(5, in_size=D) + _keras_weights(6, in_size=2 * H)
  params = interop.from_keras(keras_weights)
  assert [layer["w_ih"].shape for layer in params["layers"]] == [(2, D, 4 * H), (2, 2 * H, 4 * H)]
  back = interop.to_keras(interop.from_keras(keras_weights))
  assert len(back) == len(keras_weights)
  for a, b in zip(back, keras_weights):
    np.testing.assert_array_equal(a, b)


def test_from_torch_unexpected_key():
  sd = _torch_state_dict(0, 1, True)
  sd["weight_hr_l0"] = np.zeros((H, 2), np.float32)  # what proj_size > 0 adds
  with pytest.raises(ValueError, match=r"unexpected key 'weight_hr_l0'.*proj_size"):
    interop.from_torch(sd)
  sd = _torch_state_dict(0, 1, True)
  sd = {"lstm." + k: v for k, v in sd.items()}  # a parent module's state_dict
  with pytest.raises(ValueError, match=r"unexpected key 'lstm\.weight_ih_l0'"):
    interop.from_torch(sd)


@pytest.mark.parametrize("missing", ["weight_hh_l1_reverse", "weight_ih_l0"])
def test_from_torch_missing_key(missing):
  sd = _torch_state_dict(0, 2, True)
  del sd[missing]
  with pytest.raises(ValueError, match=f"state_dict is missing '{missing}'"):
    interop.from_torch(sd)


def test_from_torch_missing_layer():
  sd = {k: v for k, v in _torch_state_dict(0, 3, True).items() if "_l1" not in k}
  with pytest.raises(ValueError, match="state_dict is missing 'weight_ih_l1'"):
    interop.from_torch(sd)


@pytest.mark.parametrize("count", [0, 2, 4, 9])
def test_from_keras_wrong_length(count):
  weights = (_keras_weights(0) * 2)[:count]
  with pytest.raises(ValueError, match=rf"expected 3 arrays \(LSTM\) or 6 per layer.*got {count}"):
    interop.from_keras(weights)


@pytest.mark.parametrize("index,shape", [
    (0, (4 * H,)),         # kernel not 2-D
    (1, (H, 3 * H)),       # recurrent not [H, 4H]
    (2, (4 * H + 1,)),     # bias length
    (4, (H + 1, 4 * H)),   # backward recurrent
    (3, (D, 4 * H + 4)),   # kernel width differs from recurrent
])
def test_from_keras_wrong_shapes(index, shape):
  weights = _keras_weights(0)
  weights[index] = np.zeros(shape, np.float32)
  with pytest.raises(ValueError, match=r"Keras LSTM weights must be kernel \[D, 4H\], "
                     r"recurrent_kernel \[H, 4H\], bias \[4H\]"):
    interop.from_keras(weights)


@pytest.mark.parametrize("mutate, message", [
    (lambda sd: {}, r"state_dict is empty"),
    (lambda sd: {k: v for k, v in sd.items() if k != "bias_hh_l0"},
     r"only one of bias_ih_l0 and bias_hh_l0"),
    (lambda sd: {**sd, "weight_hh_l0": sd["weight_hh_l0"][:, :-1]}, r"expected weight_ih \[4H, D\]"),
])
def test_from_torch_rejects_inconsistent_state_dicts(mutate, message):
  sd = interop.to_torch(_params(3, 1, True))
  with pytest.raises(ValueError, match=message):
    interop.from_torch(mutate(sd))
