"""The recurrent part of the LSTM: one lax.scan over time for every direction at once.

Scan iteration t processes time t for the forward direction and time T-1-t for the backward
one: the backward direction is reversed by index arithmetic, never by copying an array. With
padding at the end, the backward direction first walks over the padding with its state frozen
at zero and starts at each sequence's own last valid token: exactly a reversal within the
length. Everything stays in real time order, time-major, so one step of one direction is a
contiguous [B, ...] block.

Two implementations with the same contract:
  * `scan_autodiff`: the plain scan; JAX differentiates it.
  * `scan_custom_vjp` (the default): the same forward scan, keeping only the gate activations
    and the cell states; a hand-written backward scan carries only dh/dc and writes the gate
    gradients, and the recurrent weight gradient is then ONE [H, T*B] x [T*B, 4H] matmul per
    direction over all steps (the previous hidden states are the outputs shifted by one step),
    instead of the per-step outer-product accumulation that autodiff of a scan produces.

Contract: xw [Dir, T, B, 4H] (projected inputs, no bias), b [Dir, 4H] (added inside the step,
which saves a pass over xw), w_hh [Dir, H, 4H], lengths [B] int32 in [0, T]. Past a sequence's
length the state is frozen and the output is 0. Returns (y [T, B, Dir, H] in compute_dtype:
the concat merge is a free reshape; h_n [Dir, B, H], c_n [Dir, B, H]); states and gates are
float32 (float64 for float64 params) whatever the compute dtype. h_n/c_n are the forward state
at the last valid step and the backward state after the first token.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def accumulation_dtype(param_dtype):
  """Gates, states and matmul accumulation: float32, or float64 for float64 params."""
  return jnp.promote_types(jnp.float32, param_dtype)


def _gates(z_DxBxG):
  """Activated gates (i, f, g, o) from the pre-activations, in one elementwise pass."""
  i, f, g, o = jnp.split(z_DxBxG, 4, axis=-1)
  return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _times(t, num_dirs, num_steps):
  """Real time index of scan iteration t for each direction: t forward, T-1-t backward."""
  return [t, num_steps - 1 - t][:num_dirs]


def _read(buf_DxTxBxF, times):
  """[Dir, B, F]: direction d's block at time times[d]."""
  return jnp.stack([jax.lax.dynamic_index_in_dim(buf_DxTxBxF[d], time, axis=0, keepdims=False)
                    for d, time in enumerate(times)])


def _write(buf_DxTxBxF, value_DxBxF, times):
  for d, time in enumerate(times):
    buf_DxTxBxF = jax.lax.dynamic_update_slice(
        buf_DxTxBxF, value_DxBxF[d][None, None].astype(buf_DxTxBxF.dtype), (d, time, 0, 0))
  return buf_DxTxBxF


def _read_out(buf_TxBxDxH, times):
  return jnp.stack([jax.lax.dynamic_slice_in_dim(buf_TxBxDxH, time, 1, axis=0)[0, :, d]
                    for d, time in enumerate(times)])


def _keep(times, lengths_B):
  """[Dir, B, 1] bool: is each direction's current time a valid step of each sequence."""
  return jnp.stack([time < lengths_B for time in times])[:, :, None]


def _cell(xw_BxG, b_G, w_HxG, h_BxH, c_BxH, keep_Bx1, compute_dtype):
  """One step of one direction; vmapped over the direction axis. Frozen where not keep."""
  z = xw_BxG + b_G[None, :] + jnp.matmul(h_BxH.astype(compute_dtype), w_HxG.astype(compute_dtype),
                                preferred_element_type=accumulation_dtype(w_HxG.dtype))
  i, f, g, o = _gates(z)
  c_new = f * c_BxH + i * g
  h_new = o * jnp.tanh(c_new)
  h_out, c_out = jnp.where(keep_Bx1, h_new, h_BxH), jnp.where(keep_Bx1, c_new, c_BxH)
  y = jnp.where(keep_Bx1, h_new, 0.0).astype(compute_dtype)
  return h_out, c_out, y, jnp.concatenate([i, f, g, o], axis=-1)


def _forward_scan(xw, b, w_hh, lengths, compute_dtype, unroll, keep_residuals):
  num_dirs, num_steps, batch, gates = xw.shape
  hidden = gates // 4
  acc = accumulation_dtype(w_hh.dtype)
  cell = jax.vmap(functools.partial(_cell, compute_dtype=compute_dtype))

  def step(carry, t):
    h, c = carry
    times = _times(t, num_dirs, num_steps)
    h, c, y, acts = cell(_read(xw, times), b.astype(acc), w_hh, h, c, _keep(times, lengths))
    # Residuals for the backward scan, in iteration order: there each direction's previous
    # state is simply the previous iteration's.
    return (h, c), ((y, acts, c) if keep_residuals else (y,))

  zeros = jnp.zeros((num_dirs, batch, hidden), acc)
  (h_n, c_n), (y_iter, *residuals) = jax.lax.scan(step, (zeros, zeros), jnp.arange(num_steps),
                                                  unroll=unroll)
  # y_iter [T, Dir, B, H] is in iteration order: turn the backward direction around (one pass
  # over the H-wide output, which autodiff also handles cheaply) and interleave the directions.
  per_dir = [y_iter[:, 0], jnp.flip(y_iter[:, 1], axis=0)][:num_dirs]
  return jnp.stack(per_dir, axis=2), h_n, c_n, residuals


@functools.partial(jax.jit, static_argnums=(4, 5))
def scan_autodiff(xw, b, w_hh, lengths, compute_dtype, unroll):
  return _forward_scan(xw, b, w_hh, lengths, compute_dtype, unroll, keep_residuals=False)[:3]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def scan_custom_vjp(xw, b, w_hh, lengths, compute_dtype, unroll):
  return scan_autodiff(xw, b, w_hh, lengths, compute_dtype, unroll)


def _fwd(xw, b, w_hh, lengths, compute_dtype, unroll):
  y, h_n, c_n, (acts, cells) = _forward_scan(xw, b, w_hh, lengths, compute_dtype, unroll,
                                              keep_residuals=True)
  return (y, h_n, c_n), (b, w_hh, lengths, y, acts, cells)


def _previous_hidden(y_TxBxDxH):
  """[Dir, T, B, H]: the hidden state each step started from: forward y[t-1], backward y[t+1].

  Zero at the ends; y is 0 at padded steps, which is also the backward direction's (frozen,
  zero) state there.
  """
  prev = [jnp.pad(y_TxBxDxH[:-1, :, 0], [(1, 0), (0, 0), (0, 0)])]
  if y_TxBxDxH.shape[2] == 2:
    prev.append(jnp.pad(y_TxBxDxH[1:, :, 1], [(0, 1), (0, 0), (0, 0)]))
  return jnp.stack(prev)


def _cell_vjp(dh, dc, dy, acts, c, c_prev, keep, w_hh_t, compute_dtype):
  """Back through one step of one direction: (dh, dc) after it -> (dh, dc) before it, dz.

  A frozen (padded) step passes dh/dc straight through and has zero gate gradients.
  """
  tanh_c = jnp.tanh(c)
  i, f, g, o = jnp.split(acts, 4, axis=-1)
  dh_new = jnp.where(keep, dh + dy.astype(dh.dtype), 0.0)
  dc_new = jnp.where(keep, dc, 0.0)
  dc_total = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
  dz = jnp.concatenate([
      dc_total * g * i * (1.0 - i),
      dc_total * c_prev * f * (1.0 - f),
      dc_total * i * (1.0 - g * g),
      dh_new * tanh_c * o * (1.0 - o),
  ], axis=-1)
  dh_prev = jnp.matmul(dz.astype(compute_dtype), w_hh_t.astype(compute_dtype),
                       preferred_element_type=dh.dtype) + jnp.where(keep, 0.0, dh)
  dc_prev = dc_total * f + jnp.where(keep, 0.0, dc)
  return dh_prev, dc_prev, dz


def _bwd(compute_dtype, unroll, residuals, cotangents):
  b, w_hh, lengths, y, acts, cells = residuals  # acts [T, Dir, B, 4H], cells [T, Dir, B, H]
  dy, dh_n, dc_n = cotangents
  num_steps, num_dirs, batch, gates = acts.shape
  w_hh_t = jnp.swapaxes(w_hh, 1, 2)  # [Dir, 4H, H]

  cell = jax.vmap(functools.partial(_cell_vjp, compute_dtype=compute_dtype))

  def step(carry, inputs):
    dh, dc, dz_buf = carry
    t, acts_t, c_t = inputs
    times = _times(t, num_dirs, num_steps)
    # The cell state this step started from: the previous iteration's (zero before the first).
    c_prev = jnp.where(t > 0, jax.lax.dynamic_index_in_dim(cells, jnp.maximum(t - 1, 0),
                                                           keepdims=False), 0.0)
    dh, dc, dz = cell(dh, dc, _read_out(dy, times), acts_t, c_t, c_prev, _keep(times, lengths),
                      w_hh_t)
    return (dh, dc, _write(dz_buf, dz, times)), None

  dz0 = jnp.zeros((num_dirs, num_steps, batch, gates), acts.dtype)
  (_, _, dz), _ = jax.lax.scan(step, (dh_n, dc_n, dz0), (jnp.arange(num_steps), acts, cells),
                               reverse=True, unroll=unroll)
  # All steps at once: dW_hh[d] = sum_{t,b} h_prev[d,t,b]^T dz[d,t,b].
  h_prev = _previous_hidden(y).reshape(num_dirs, num_steps * batch, -1)
  dz_DxNxG = dz.reshape(num_dirs, num_steps * batch, gates)
  dw_hh = jnp.einsum("dnh,dng->dhg", h_prev.astype(compute_dtype), dz_DxNxG.astype(compute_dtype),
                     preferred_element_type=accumulation_dtype(w_hh.dtype)).astype(w_hh.dtype)
  db = jnp.sum(dz_DxNxG, axis=1).astype(b.dtype)
  return dz.astype(acts.dtype), db, dw_hh, None


scan_custom_vjp.defvjp(_fwd, _bwd)

SCANS = {"custom_vjp": scan_custom_vjp, "autodiff": scan_autodiff}
