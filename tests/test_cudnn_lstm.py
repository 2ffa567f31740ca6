"""scan_impl='cudnn': the packing and plumbing around cuDNN on CPU, cuDNN itself on a CUDA GPU.

On CPU `jax.experimental.rnn.lstm_ref`, JAX's pure reference of the same packed weight layout,
stands in for the kernel, so everything of ours around it (packing, time/batch layout, zero
lengths, stacking, gradients back to our params) meets the float64 numpy reference. That
cannot catch a wrong cuDNN call: the tests marked `needs_cuda` do, and skip without a GPU
(experiments/cudnn_gpu_check.py is the longer GPU check).
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

from bilstm_jax.core import cudnn_lstm, lstm
from tests import reference

B, T, D, H = 5, 7, 3, 4


def jax_reference_lstm(x, h_0, c_0, weights, seq_lengths, *, input_size, hidden_size,
                       num_layers, dropout, bidirectional):
  """jax.experimental.rnn.lstm's signature over its pure-JAX reference."""
  w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers,
                                                   bidirectional)
  return rnn.lstm_ref(x, h_0, c_0, w_ih, w_hh, b_ih, b_hh, seq_lengths, input_size, hidden_size,
                      num_layers, dropout, bidirectional)


needs_cuda = pytest.mark.skipif(
    not (cudnn_lstm.cuda_available() and jax.default_backend() == "gpu"),
    reason="needs a CUDA GPU and a CUDA jaxlib (run with JAX_PLATFORMS=cuda there)")


@pytest.fixture
def through_reference(monkeypatch):
  """Routes scan_impl='cudnn' layers through cudnn_layer with the reference kernel."""
  monkeypatch.setattr(cudnn_lstm, "layer", lambda p, x, n, fallback: cudnn_lstm.cudnn_layer(
      p, x, n, lstm_fn=jax_reference_lstm))


def _problem(seed, num_layers, bidirectional, merge_mode="concat"):
  rng = np.random.default_rng(seed)
  params = lstm.init_params(jax.random.PRNGKey(seed), D, H, num_layers,
                            bidirectional=bidirectional, merge_mode=merge_mode)
  params = jax.tree_util.tree_map(
      lambda p: np.asarray(p) + 0.1 * rng.standard_normal(p.shape).astype(np.float32), params)
  x = rng.standard_normal((B, T, D)).astype(np.float32)
  lengths = rng.integers(1, T + 1, size=B).astype(np.int32)
  lengths[0], lengths[1], lengths[-1] = 0, 1, T  # empty, one token, full
  return params, x, lengths


def test_packed_layout_is_what_jax_experimental_rnn_unpacks():
  params, _, _ = _problem(0, 1, True)
  layer = params["layers"][0]
  w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(cudnn_lstm.pack_weights(layer), D, H, 1, True)
  for d in range(2):
    np.testing.assert_array_equal(w_ih[d], layer["w_ih"][d].T)
    np.testing.assert_array_equal(w_hh[d], layer["w_hh"][d].T)
    np.testing.assert_array_equal(b_ih[d], layer["b"][d])
    np.testing.assert_array_equal(b_hh[d], 0.0)


@pytest.mark.parametrize("merge_mode, bidirectional, num_layers",
                         [("concat", True, 1), ("sum", True, 2), ("none", True, 2),
                          ("concat", False, 2)])
def test_matches_float64_reference(through_reference, merge_mode, bidirectional, num_layers):
  params, x, lengths = _problem(1, num_layers, bidirectional, merge_mode)
  out, state = jax.jit(lambda p, x: lstm.bilstm(p, x, lengths, merge_mode, return_state=True,
                                                scan_impl="cudnn"))(params, x)
  ref_out, ref_h, ref_c = reference.ours(params, x, lengths, merge_mode)
  jax.tree_util.tree_map(lambda a, r: np.testing.assert_allclose(a, r, atol=2e-5), out, ref_out)
  np.testing.assert_allclose(state["h"], ref_h, atol=2e-5)
  np.testing.assert_allclose(state["c"], ref_c, atol=2e-5)


def test_gradients_reach_our_params_and_equal_the_scans(through_reference):
  params, x, lengths = _problem(2, 2, True)
  weights = np.sin(np.arange(B * T * 2 * H)).reshape(B, T, 2 * H)

  def loss(p, x, impl):
    out, state = lstm.bilstm(p, x, lengths, return_state=True, scan_impl=impl)
    return jnp.sum(out * weights) + jnp.sum(state["h"] * 0.3) + jnp.sum(state["c"] * 0.7)

  grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
  via_cudnn_layout, via_scan = grad(params, x, "cudnn"), grad(params, x, "custom_vjp")
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                         via_cudnn_layout, via_scan)


@needs_cuda
@pytest.mark.parametrize("merge_mode, num_layers", [("concat", 2), ("none", 1)])
def test_cudnn_on_a_gpu_matches_float64_reference(merge_mode, num_layers):
  params, x, lengths = _problem(3, num_layers, True, merge_mode)
  weights = np.cos(np.arange(B * T * 2 * H)).reshape(B, T, 2 * H)

  def loss(p, impl):
    out, state = lstm.bilstm(p, x, lengths, merge_mode, return_state=True, scan_impl=impl)
    out = jnp.concatenate(out, -1) if merge_mode == "none" else out
    return jnp.sum(out * weights) + jnp.sum(state["h"] * 0.3) + jnp.sum(state["c"] * 0.7)

  with jax.default_matmul_precision("highest"):  # not TF32: compare with float64
    out, state = jax.jit(lambda p: lstm.bilstm(p, x, lengths, merge_mode, return_state=True,
                                               scan_impl="cudnn"))(params)
    grads = jax.jit(jax.grad(loss), static_argnums=1)(params, "cudnn")
  ref_out, ref_h, ref_c = reference.ours(params, x, lengths, merge_mode)
  jax.tree_util.tree_map(lambda a, r: np.testing.assert_allclose(a, r, atol=1e-5), out, ref_out)
  np.testing.assert_allclose(state["h"], ref_h, atol=1e-5)
  np.testing.assert_allclose(state["c"], ref_c, atol=1e-5)
  # The float64 scan's gradients: test_lstm checks them against finite differences of the
  # numpy reference.
  with jax.enable_x64(True):
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    want = jax.grad(loss)(p64, "custom_vjp")
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                         grads, want)


def test_other_dtypes_get_one_clear_error():
  params, x, lengths = _problem(4, 1, True)
  with pytest.raises(ValueError, match="scan_impl='cudnn' runs float32 only.*bfloat16"):
    lstm.bilstm(params, x, lengths, scan_impl="cudnn", compute_dtype=jnp.bfloat16)
  with pytest.raises(ValueError, match="unknown scan_impl 'fast'; allowed: .*cudnn"):
    lstm.bilstm(params, x, lengths, scan_impl="fast")


def test_pinned_lowering_gives_its_custom_call_row_major_layouts():
  """The wrapper around jaxlib's cuDNN lowering, on a probe custom call that lowers on CPU."""
  from jax._src import core  # pylint: disable=import-outside-toplevel
  from jax._src.lib.mlir import ir  # pylint: disable=import-outside-toplevel
  from jax._src.lib.mlir.dialects import hlo  # pylint: disable=import-outside-toplevel
  from jax.interpreters import mlir  # pylint: disable=import-outside-toplevel

  probe = core.Primitive("bilstm_layout_probe")
  probe.def_abstract_eval(lambda x: x)

  def lowering(ctx, x):
    del ctx
    return hlo.CustomCallOp(
        [x.type], [x], call_target_name=ir.StringAttr.get("bilstm_layout_probe"),
        has_side_effect=ir.BoolAttr.get(False),
        api_version=ir.IntegerAttr.get(ir.IntegerType.get_signless(32), 4),
        called_computations=ir.ArrayAttr.get([]), backend_config=ir.DictAttr.get({})).results

  mlir.register_lowering(probe, cudnn_lstm.pin_row_major(lowering))
  text = jax.jit(lambda x: jnp.transpose(probe.bind(jnp.transpose(x, (2, 0, 1))) * 2.0)).lower(
      jnp.ones((2, 3, 4))).as_text()
  (line,) = [line for line in text.splitlines() if "bilstm_layout_probe" in line]
  assert "operand_layouts = [dense<[2, 1, 0]>" in line
  assert "result_layouts = [dense<[2, 1, 0]>" in line


# What scan_impl='cudnn' imports beyond public JAX: unimportable here, as after a JAX release
# that moved them.
LAZY_CHILD = textwrap.dedent("""
    import sys
    import jax
    import jax._src.lib.mlir
    BLOCKED = ("jax._src.lib.mlir.ir", "jax.experimental.rnn")
    assert not any(name in sys.modules for name in BLOCKED)
    del jax._src.lib.mlir.ir  # JAX's own modules imported it already; new importers fail

    class Moved:
      def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
          raise ImportError(f"{name} moved in this (imaginary) JAX release")
        return None

    sys.meta_path.insert(0, Moved())
    import numpy as np
    import bilstm_jax
    params = bilstm_jax.init_params(jax.random.PRNGKey(0), 3, 4, 2)
    x, lengths = np.ones((2, 5, 3), np.float32), np.array([5, 2])
    out = jax.jit(jax.grad(lambda p: bilstm_jax.bilstm(p, x, lengths).sum()))(params)
    assert not any(name in sys.modules for name in BLOCKED)
    try:
      bilstm_jax.bilstm(params, x, lengths, scan_impl="cudnn")
    except ImportError as err:
      print("cudnn:", err)
""")


def test_only_scan_impl_cudnn_needs_jax_internals():
  proc = subprocess.run([sys.executable, "-c", LAZY_CHILD], capture_output=True, text=True,
                        check=False, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "cudnn: scan_impl='cudnn' needs JAX internals" in proc.stdout
  assert "use scan_impl='custom_vjp'" in proc.stdout
