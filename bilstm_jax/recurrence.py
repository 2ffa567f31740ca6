"""The recurrent part of the LSTM: one lax.scan over time for every direction at once.

Two implementations with the same contract:
  * `scan_autodiff`: the plain scan; JAX differentiates it.
  * `scan_custom_vjp` (the default): the same forward scan, with a hand-written backward scan
    that only carries dh/dc and stores the gate gradients; the recurrent weight gradient is
    then ONE [H, T*B] x [T*B, 4H] matmul per direction over all steps, instead of the
    per-step outer-product accumulation that autodiff of a scan produces.

Contract: xw [T, Dir, B, 4H] (projected inputs + bias, every direction already
starting at step 0), w_hh [Dir, H, 4H], valid [T, B] (1.0 at valid steps). All
directions have their padding at the end, so one mask serves all: past a sequence's length
the state is frozen (the final carry is the state at its last valid step) and the output is 0.
Returns (y [T, Dir, B, H] in compute_dtype, h_n [Dir, B, H], c_n [Dir, B, H]); states and
gates are float32 (float64 for float64 params) whatever the compute dtype.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def accumulation_dtype(param_dtype):
  """Gates, states and matmul accumulation: float32, or float64 for float64 params."""
  return jnp.promote_types(jnp.float32, param_dtype)


def _recurrent_matmul(h_DxBxH, w_DxHxG, compute_dtype):
  return jnp.einsum("dbh,dhg->dbg", h_DxBxH.astype(compute_dtype), w_DxHxG.astype(compute_dtype),
                    preferred_element_type=accumulation_dtype(w_DxHxG.dtype))


def _gates(z_DxBxG):
  """Activated gates (i, f, g, o) from the pre-activations, in one elementwise pass."""
  i, f, g, o = jnp.split(z_DxBxG, 4, axis=-1)
  return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _forward_scan(xw, w_hh, valid, compute_dtype, unroll, keep_residuals):
  _, num_dirs, batch, gates = xw.shape
  hidden = gates // 4

  def step(carry, inputs):
    h, c = carry
    xw_DxBxG, valid_B = inputs
    i, f, g, o = _gates(xw_DxBxG + _recurrent_matmul(h, w_hh, compute_dtype))
    c_new = f * c + i * g
    tanh_c = jnp.tanh(c_new)
    h_new = o * tanh_c
    keep = valid_B[None, :, None] > 0
    y = jnp.where(keep, h_new, 0.0)
    out = (y.astype(compute_dtype),)
    if keep_residuals:
      out += (h, c, jnp.concatenate([i, f, g, o], axis=-1), tanh_c)
    return (jnp.where(keep, h_new, h), jnp.where(keep, c_new, c)), out

  zeros = jnp.zeros((num_dirs, batch, hidden), accumulation_dtype(w_hh.dtype))
  (h_n, c_n), outs = jax.lax.scan(step, (zeros, zeros), (xw, valid), unroll=unroll)
  return h_n, c_n, outs


@functools.partial(jax.jit, static_argnums=(3, 4))
def scan_autodiff(xw, w_hh, valid, compute_dtype, unroll):
  h_n, c_n, (y,) = _forward_scan(xw, w_hh, valid, compute_dtype, unroll, keep_residuals=False)
  return y, h_n, c_n


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def scan_custom_vjp(xw, w_hh, valid, compute_dtype, unroll):
  return scan_autodiff(xw, w_hh, valid, compute_dtype, unroll)


def _fwd(xw, w_hh, valid, compute_dtype, unroll):
  h_n, c_n, (y, h_prev, c_prev, acts, tanh_c) = _forward_scan(
      xw, w_hh, valid, compute_dtype, unroll, keep_residuals=True)
  return (y, h_n, c_n), (w_hh, valid, h_prev, c_prev, acts, tanh_c)


def _bwd(compute_dtype, unroll, residuals, cotangents):
  w_hh, valid, h_prev, c_prev, acts, tanh_c = residuals
  dy, dh_n, dc_n = cotangents
  w_hh_t = jnp.swapaxes(w_hh, 1, 2)  # [Dir, 4H, H]

  def step(carry, inputs):
    dh, dc = carry
    dy_DxBxH, valid_B, c_prev_t, acts_t, tanh_c_t = inputs
    keep = valid_B[None, :, None] > 0
    # A frozen (padded) step passes dh/dc straight through and has zero gate gradients.
    dh_new = jnp.where(keep, dh + dy_DxBxH.astype(dh.dtype), 0.0)
    dc_new = jnp.where(keep, dc, 0.0)
    i, f, g, o = jnp.split(acts_t, 4, axis=-1)
    dc_total = dc_new + dh_new * o * (1.0 - tanh_c_t * tanh_c_t)
    dz = jnp.concatenate([
        dc_total * g * i * (1.0 - i),
        dc_total * c_prev_t * f * (1.0 - f),
        dc_total * i * (1.0 - g * g),
        dh_new * tanh_c_t * o * (1.0 - o),
    ], axis=-1)
    dh_prev = _recurrent_matmul(dz, w_hh_t, compute_dtype) + jnp.where(keep, 0.0, dh)
    dc_prev = dc_total * f + jnp.where(keep, 0.0, dc)
    return (dh_prev, dc_prev), dz

  (_, _), dz = jax.lax.scan(step, (dh_n, dc_n), (dy, valid, c_prev, acts, tanh_c),
                            reverse=True, unroll=unroll)
  # All steps at once: dW_hh[d] = sum_t h_{t-1}[d]^T dz_t[d].
  dw_hh = jnp.einsum("tdbh,tdbg->dhg", h_prev.astype(compute_dtype), dz.astype(compute_dtype),
                     preferred_element_type=accumulation_dtype(w_hh.dtype)).astype(w_hh.dtype)
  return dz, dw_hh, jnp.zeros_like(valid)


scan_custom_vjp.defvjp(_fwd, _bwd)

SCANS = {"custom_vjp": scan_custom_vjp, "autodiff": scan_autodiff}
