"""On a CUDA GPU: jax.experimental.rnn alone vs its reference, and our scan_impl="cudnn" vs the scan (grads).

H200, jax 0.11.2 (2026-11-26): rnn.lstm alone matched lstm_ref (y 9e-8, dw 1e-6) for uni and bi,
ragged lengths; ours through cudnn_layer had wrong gradients (w_ih max diff 6.6) with or without
platform_dependent, while on CPU the same wrapper over lstm_ref is exact. Suspect: the un-layout-
constrained cuDNN custom call and the transposes around it. Run: PYTHONPATH=. python3 this_file.
"""
import functools, jax, jax.numpy as jnp, numpy as np
from jax.experimental import rnn
from bilstm_jax import cudnn_lstm, lstm
B, T, D, H = 4, 8, 8, 16
rng = np.random.default_rng(0)
x = jnp.asarray(rng.standard_normal((B, T, D)), jnp.float32)
n = jnp.asarray([8, 5, 8, 3], jnp.int32)
jax.config.update("jax_default_matmul_precision", "highest")

def ref_fn(x, h0, c0, w, n, bidi):
  a = rnn.unpack_lstm_weights(w, D, H, 1, bidi)
  return rnn.lstm_ref(x, h0, c0, *a, n, D, H, 1, 0.0, bidi)

import traceback
for bidi in (False, True):
 try:
  nd = 2 if bidi else 1
  w = rnn.init_lstm_weight(jax.random.PRNGKey(1), D, H, 1, bidi)
  h0 = jnp.zeros((nd, B, H)); c0 = h0
  wt = jnp.asarray(rng.standard_normal((B, T, nd * H)), jnp.float32)
  cud = lambda w, x: rnn.lstm(x, h0, c0, w, n, D, H, 1, 0.0, bidi)[0]
  ref = lambda w, x: ref_fn(x, h0, c0, w, n, bidi)[0]
  mask = (jnp.arange(T)[None, :] < n[:, None])[:, :, None]
  y_c = jax.jit(cud)(w, x) * mask; y_r = jax.jit(ref)(w, x) * mask
  print(f"bidi={bidi} primal |y_cudnn - y_ref| {float(jnp.abs(y_c - y_r).max()):.2e}")
  yv, vjp = jax.vjp(jax.jit(cud), w, x)
  print(f"  y from vjp vs primal {float(jnp.abs(yv * mask - y_c).max()):.2e}")
  loss = lambda f: (lambda w, x: jnp.sum(f(w, x) * mask * wt))
  gc = jax.jit(jax.grad(loss(cud), argnums=(0, 1)))(w, x)
  gr = jax.jit(jax.grad(loss(ref), argnums=(0, 1)))(w, x)
  for name, a, b in zip(("dw", "dx"), gc, gr):
    print(f"  {name} max abs diff {float(jnp.abs(a - b).max()):.2e} (scale {float(jnp.abs(b).max()):.2e})")
  # Full lengths
  nf = jnp.full((B,), T, jnp.int32)
  cudf = lambda w, x: rnn.lstm(x, h0, c0, w, nf, D, H, 1, 0.0, bidi)[0]
  reff = lambda w, x: ref_fn(x, h0, c0, w, nf, bidi)[0]
  gc = jax.jit(jax.grad(lambda w, x: jnp.sum(cudf(w, x) * wt), argnums=(0, 1)))(w, x)
  gr = jax.jit(jax.grad(lambda w, x: jnp.sum(reff(w, x) * wt), argnums=(0, 1)))(w, x)
  print(f"  full lengths: dw diff {float(jnp.abs(gc[0] - gr[0]).max()):.2e} dx diff {float(jnp.abs(gc[1] - gr[1]).max()):.2e}")
 except Exception:
  traceback.print_exc(limit=2)

# our layer, with and without platform_dependent
params = lstm.init_params(jax.random.PRNGKey(2), D, H, 1)
layer = params["layers"][0]
xt = jnp.transpose(x, (1, 0, 2))
wt = jnp.asarray(rng.standard_normal((T, B, 2, H)), jnp.float32)
def ours(p, impl):
  return jnp.sum(lstm.bilstm(p, x, n, scan_impl=impl) * wt.transpose(1, 0, 2, 3).reshape(B, T, 2 * H))
g_scan = jax.jit(jax.grad(ours), static_argnums=1)(params, "custom_vjp")
g_cud = jax.jit(jax.grad(ours), static_argnums=1)(params, "cudnn")
print("ours platform_dependent grads diff", jax.tree_util.tree_map(lambda a, b: f"{float(jnp.abs(a - b).max()):.1e}", g_cud, g_scan))
direct = lambda p, x, n, fallback: cudnn_lstm.cudnn_layer(p, x, n)
cudnn_lstm.layer = direct
g_dir = jax.jit(jax.grad(ours), static_argnums=1)(params, "cudnn")
print("ours direct cudnn grads diff", jax.tree_util.tree_map(lambda a, b: f"{float(jnp.abs(a - b).max()):.1e}", g_dir, g_scan))
