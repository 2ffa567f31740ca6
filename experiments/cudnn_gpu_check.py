"""On a CUDA GPU: which arrangement around jax.experimental.rnn's cuDNN call gives right gradients.

Each variant below is the same function computed with cuDNN and with rnn.lstm_ref (pure JAX);
a variant passes when outputs, loss and gradients agree. Every variant runs twice: with
jaxlib's own lowering and with the custom calls pinned to row-major layouts
(cudnn_lstm.pin_cudnn_layouts, which scan_impl="cudnn" always applies). Last, the whole stack
(two layers through lstm.bilstm) is compared with the scan.

On an H200 GPU with jax 0.11.2: jaxlib's lowering fails every
arrangement with a transpose next to the call (XLA hands the layout-less custom call the
transpose's layout); pinned, all five arrangements and the whole stack pass (gradients within
1e-6). Run from the repository root: PYTHONPATH=. python3 <this file>
"""
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import rnn

from bilstm_jax.core import cudnn_lstm, lstm

jax.config.update("jax_default_matmul_precision", "highest")
B, T, D, H = 4, 8, 8, 16
rng = np.random.default_rng(0)
x_btd = jnp.asarray(rng.standard_normal((B, T, D)), jnp.float32)
n = jnp.asarray([8, 5, 8, 3], jnp.int32)
h0 = jnp.zeros((2, B, H), jnp.float32)
w0 = rnn.init_lstm_weight(jax.random.PRNGKey(1), D, H, 1, True)


def reference(x, h_0, c_0, w, lengths, *, input_size, hidden_size, num_layers, dropout,
              bidirectional):
  parts = rnn.unpack_lstm_weights(w, input_size, hidden_size, num_layers, bidirectional)
  return rnn.lstm_ref(x, h_0, c_0, *parts, lengths, input_size, hidden_size, num_layers,
                      dropout, bidirectional)


def call(kernel, x, w):
  kw = dict(input_size=D, hidden_size=H, num_layers=1, dropout=0.0, bidirectional=True)
  return kernel(x, h0, h0, w, n, **kw)[0]


mask = (jnp.arange(T)[None, :] < n[:, None])[:, :, None]
x_tbd = jnp.transpose(x_btd, (1, 0, 2))
# name -> (function of (kernel, flat weights, x), the x it takes)
VARIANTS = {
    "x from args, y used as is": (lambda k, w, x: call(k, x, w) * mask, x_btd),
    "x time-major arg, transposed in": (
        lambda k, w, x: call(k, jnp.transpose(x, (1, 0, 2)), w) * mask, x_tbd),
    "y transposed out (time-major result)": (
        lambda k, w, x: jnp.transpose(call(k, x, w) * mask, (1, 0, 2)), x_btd),
    "our cudnn_layer (time-major)": (
        lambda k, w, x: cudnn_lstm.cudnn_layer(_layer(w), x, n, lstm_fn=k)[0], x_tbd),
}
if hasattr(cudnn_lstm, "cudnn_layer_batch_major"):
  VARIANTS["our cudnn_layer_batch_major"] = (
      lambda k, w, x: cudnn_lstm.cudnn_layer_batch_major(_layer(w), x, n, lstm_fn=k)[0], x_btd)


def _layer(w):
  """Our layer params from cuDNN's flat vector (the inverse of pack_weights, b_hh dropped)."""
  w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(w, D, H, 1, True)
  return {"w_ih": jnp.stack([w_ih[d].T for d in range(2)]),
          "w_hh": jnp.stack([w_hh[d].T for d in range(2)]),
          "b": jnp.stack([b_ih[d] + b_hh[d] for d in range(2)])}


def _cotangent(out):
  return jnp.sin(jnp.arange(out.size, dtype=jnp.float32)).reshape(out.shape)


def check_variants(label):
  print(f"-- {label}")
  for name, (fn, x_arg) in VARIANTS.items():
    _check(name, fn, x_arg)


def _check(name, fn, x_arg):
  try:
    results = []
    for kernel in (rnn.lstm, reference):
      loss = lambda w, x: jnp.sum(fn(kernel, w, x) * _cotangent(fn(kernel, w, x)))
      plain = jax.jit(lambda w, x: fn(kernel, w, x))(w0, x_arg)
      value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(w0, x_arg)
      results.append((plain, value, grads))
    (p_c, v_c, g_c), (p_r, v_r, g_r) = results
    diff = lambda a, b: float(jnp.abs(a - b).max())
    ok = diff(p_c, p_r) < 1e-4 and abs(v_c - v_r) < 1e-3 and all(
        diff(a, b) < 1e-3 * max(1.0, float(jnp.abs(b).max())) for a, b in zip(g_c, g_r))
    print(f"{'PASS' if ok else 'FAIL'} {name}: forward {diff(p_c, p_r):.1e}, loss "
          f"{abs(float(v_c - v_r)):.1e}, dw {diff(g_c[0], g_r[0]):.1e}, dx {diff(g_c[1], g_r[1]):.1e}")
  except Exception:  # pylint: disable=broad-except
    print(f"ERROR {name}")
    traceback.print_exc(limit=3)

check_variants("jaxlib's lowering (no layouts on the custom call)")
cudnn_lstm.pin_cudnn_layouts()
check_variants("custom call pinned to row-major layouts (cudnn_lstm.pin_cudnn_layouts)")

# The whole stack (pinned): scan_impl="cudnn" against the scan, two layers, through lstm.bilstm.
params = lstm.init_params(jax.random.PRNGKey(2), D, H, 2)
weights = jnp.asarray(rng.standard_normal((B, T, 2 * H)), jnp.float32)
grad = jax.jit(jax.grad(lambda p, impl: jnp.sum(lstm.bilstm(p, x_btd, n, scan_impl=impl)
                                                 * weights)), static_argnums=1)
try:
  diffs = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                 grad(params, "cudnn"), grad(params, "custom_vjp"))
  worst = max(jax.tree_util.tree_leaves(diffs))
  print(f"{'PASS' if worst < 1e-3 else 'FAIL'} bilstm scan_impl=cudnn vs custom_vjp: {diffs}")
except Exception:  # pylint: disable=broad-except
  print("ERROR bilstm")
  traceback.print_exc(limit=3)
