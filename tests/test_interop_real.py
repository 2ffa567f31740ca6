"""Converters against the real torch.nn.LSTM and Keras 3 Bidirectional(LSTM).

Skipped where torch or keras is not installed (`make test` without the bench extra); CI sets
BILSTM_INTEROP_TESTS=1 (.ci/run), and then a missing one fails instead.
"""

import importlib
import os

os.environ["KERAS_BACKEND"] = "jax"  # must precede the first keras import

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bilstm_jax import interop  # noqa: E402
from bilstm_jax.core import lstm
from tests import reference  # noqa: E402

B, T, D, H = 4, 6, 3, 5
KERAS_MODES = ("concat", "sum", "mul", "ave", "none")

pytestmark = pytest.mark.filterwarnings(  # raised inside Keras' get_weights with numpy 2
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


REQUIRED = os.environ.get("BILSTM_INTEROP_TESTS") == "1"


def _skip(reason):
  if REQUIRED:
    pytest.fail(f"BILSTM_INTEROP_TESTS=1 but {reason}", pytrace=False)
  pytest.skip(reason)


def _import(name):
  """The module, or a skip (a failure when REQUIRED) that says how to install it."""
  try:
    return importlib.import_module(name)
  except ImportError as err:
    _skip(f"{name} not installed: pip install -e .[bench] ({err})")


@pytest.fixture(scope="module")
def torch():
  torch = _import("torch")
  torch.set_num_threads(1)
  return torch


@pytest.fixture
def keras():
  keras = _import("keras")
  if keras.backend.backend() != "jax":
    _skip(f"keras was already imported with the {keras.backend.backend()!r} backend "
          "(KERAS_BACKEND=jax is needed)")
  # Keras' own jax code broadcasts (N, H) with (H,), which conftest's 'raise' would reject.
  with jax.numpy_rank_promotion("allow"):
    yield keras


def _batch(seed, empty=False):
  """Random inputs and lengths with 1 and T (and 0 if `empty`: Keras allows it, packing not)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(B, T, D)).astype(np.float32)
  lengths = rng.integers(1, T + 1, size=B)
  lengths[0], lengths[-1] = 1, T
  if empty:
    lengths[1] = 0
  return x, lengths.astype(np.int32)


def _run_torch(torch, module, x, lengths):
  """nn.LSTM over the packed batch, padded back with zeros to [B, T, F]; also (h_n, c_n)."""
  packed = torch.nn.utils.rnn.pack_padded_sequence(
      torch.from_numpy(x), torch.from_numpy(lengths).long(), batch_first=True,
      enforce_sorted=False)
  with torch.no_grad():
    y, (h_n, c_n) = module(packed)
  y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
  return y.numpy(), h_n.numpy(), c_n.numpy()


def _torch_lstm(torch, seed, num_layers, bidirectional, bias=True):
  torch.manual_seed(seed)
  module = torch.nn.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional,
                         batch_first=True, bias=bias)
  with torch.no_grad():
    for p in module.parameters():
      p.uniform_(-0.7, 0.7)  # wider than the default init, so the gates saturate differently
  return module


def _numpy_state_dict(module):
  return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_from_torch_matches_nn_lstm(torch, num_layers, bidirectional):
  module = _torch_lstm(torch, num_layers, num_layers, bidirectional)
  x, lengths = _batch(num_layers)
  want, want_h, want_c = _run_torch(torch, module, x, lengths)
  sd = _numpy_state_dict(module)
  out, state = lstm.bilstm(interop.from_torch(sd), x, lengths, "concat", return_state=True)
  np.testing.assert_allclose(out, want, atol=1e-5)
  np.testing.assert_allclose(reference.torch_lstm(sd, x, lengths), want, atol=1e-5)
  # h_n is [L * Dir, B, H], layer-major then direction (already in the unsorted batch order);
  # ours is [L, Dir, B, H]. The backward final state is the one after the first token.
  num_dirs = 2 if bidirectional else 1
  np.testing.assert_allclose(state["h"], want_h.reshape(num_layers, num_dirs, B, H), atol=1e-5)
  np.testing.assert_allclose(state["c"], want_c.reshape(num_layers, num_dirs, B, H), atol=1e-5)


def test_from_torch_matches_nn_lstm_without_bias(torch):
  module = _torch_lstm(torch, 7, 2, True, bias=False)
  x, lengths = _batch(7)
  want, _, _ = _run_torch(torch, module, x, lengths)
  np.testing.assert_allclose(
      lstm.bilstm(interop.from_torch(_numpy_state_dict(module)), x, lengths), want, atol=1e-5)


def test_from_torch_rejects_proj_size(torch):
  module = torch.nn.LSTM(D, H, proj_size=2, bidirectional=True, batch_first=True)
  with pytest.raises(ValueError, match=r"unexpected key 'weight_hr_l0'.*proj_size"):
    interop.from_torch(_numpy_state_dict(module))


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_to_torch_loads_into_nn_lstm(torch, key, num_layers, bidirectional):
  params = lstm.init_params(key, D, H, num_layers, bidirectional=bidirectional)
  params = jax.tree_util.tree_map(
      lambda p: p + 0.3 * jax.random.normal(jax.random.fold_in(key, p.size), p.shape), params)
  module = torch.nn.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional,
                         batch_first=True)
  module.load_state_dict({k: torch.from_numpy(v) for k, v in interop.to_torch(params).items()},
                         strict=True)
  x, lengths = _batch(10 + num_layers)
  want, want_h, want_c = _run_torch(torch, module, x, lengths)
  out, state = lstm.bilstm(params, x, lengths, "concat", return_state=True)
  np.testing.assert_allclose(out, want, atol=1e-5)
  np.testing.assert_allclose(state["h"], want_h.reshape(state["h"].shape), atol=1e-5)
  np.testing.assert_allclose(state["c"], want_c.reshape(state["c"].shape), atol=1e-5)


def _keras_bidirectional(keras, merge_mode, in_size, seed):
  layer = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True),
                                     merge_mode=None if merge_mode == "none" else merge_mode)
  layer.build((B, T, in_size))
  rng = np.random.default_rng(seed)
  layer.set_weights([0.5 * rng.normal(size=w.shape).astype(np.float32)
                     for w in layer.get_weights()])
  return layer


def _mask(lengths):
  return np.arange(T)[None, :] < lengths[:, None]  # padding at the end


def _as_numpy(out):
  return tuple(np.asarray(o) for o in out) if isinstance(out, (list, tuple)) else np.asarray(out)


@pytest.mark.parametrize("merge_mode", KERAS_MODES)
def test_from_keras_matches_bidirectional(keras, merge_mode):
  layer = _keras_bidirectional(keras, merge_mode, D, KERAS_MODES.index(merge_mode))
  x, lengths = _batch(20, empty=True)
  mask = _mask(lengths)
  want = _as_numpy(layer(x, mask=mask))  # merge_mode=None returns the list [fwd, bwd]
  weights = layer.get_weights()
  out = lstm.bilstm(interop.from_keras(weights), x, lengths, merge_mode)
  ref = reference.keras_bidirectional(weights, x, mask, merge_mode)
  for got, ref_leaf, want_leaf in zip(jax.tree_util.tree_leaves(out),
                                      jax.tree_util.tree_leaves(ref),
                                      jax.tree_util.tree_leaves(want)):
    # Bidirectional forces zero_output_for_mask=True on both inner LSTMs when
    # return_sequences, so Keras is exactly zero at padded positions for every merge mode,
    # as ours is; the whole arrays are compared.
    assert not want_leaf[~mask].any()
    np.testing.assert_allclose(got, want_leaf, atol=1e-5)
    np.testing.assert_allclose(ref_leaf, want_leaf, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_from_keras_matches_stacked_bidirectional(keras, merge_mode):
  """Two Bidirectional layers, the mask passed on: the concatenated weight lists."""
  first = _keras_bidirectional(keras, merge_mode, D, 30)
  second = _keras_bidirectional(keras, merge_mode, lstm.merged_size(H, merge_mode, True), 31)
  x, lengths = _batch(21, empty=True)
  mask = _mask(lengths)
  want = np.asarray(second(first(x, mask=mask), mask=mask))
  params = interop.from_keras(first.get_weights() + second.get_weights())
  np.testing.assert_allclose(lstm.bilstm(params, x, lengths, merge_mode), want, atol=1e-5)


def test_from_keras_matches_plain_lstm_on_valid_steps(keras):
  layer = keras.layers.LSTM(H, return_sequences=True)
  layer.build((B, T, D))
  rng = np.random.default_rng(40)
  layer.set_weights([0.5 * rng.normal(size=w.shape).astype(np.float32)
                     for w in layer.get_weights()])
  x, lengths = _batch(22, empty=True)
  mask = _mask(lengths)
  want = np.asarray(layer(x, mask=mask))
  out = np.asarray(lstm.bilstm(interop.from_keras(layer.get_weights()), x, lengths))
  # A plain LSTM keeps zero_output_for_mask=False: at a padded step Keras repeats the previous
  # output (the last valid h, zero before any valid step); ours is zero there. Valid steps only.
  np.testing.assert_allclose(out[mask], want[mask], atol=1e-5)


@pytest.mark.parametrize("merge_mode", KERAS_MODES)
def test_to_keras_sets_bidirectional_weights(keras, key, merge_mode):
  params = lstm.init_params(key, D, H, 1)
  params = jax.tree_util.tree_map(
      lambda p: p + 0.3 * jax.random.normal(jax.random.fold_in(key, p.size), p.shape), params)
  layer = _keras_bidirectional(keras, merge_mode, D, 0)
  layer.set_weights(interop.to_keras(params))
  x, lengths = _batch(23, empty=True)
  want = _as_numpy(layer(x, mask=_mask(lengths)))
  out = lstm.bilstm(params, x, lengths, merge_mode)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), out, want)
