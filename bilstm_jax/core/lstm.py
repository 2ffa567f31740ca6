"""Pure-JAX (bi)directional LSTM core: hoisted input projection, one lax.scan for both directions.

Params layout (what `init_params` returns and `bilstm` takes)::

    {"layers": [layer_0, ..., layer_{L-1}]}
    layer_l = {
        "w_ih": [Dir, D_l, 4H]   input kernel, gate blocks in the order i, f, g, o
        "w_hh": [Dir, H, 4H]     recurrent kernel, same gate order
        "b":    [Dir, 4H]        one bias (PyTorch's b_ih + b_hh; Keras' bias)
    }

`Dir` is 2 for a bidirectional stack (index 0 forward, 1 backward) and 1 for forward-only.
`D_0` is the input size; `D_l` for l > 0 is the width of the merged output of layer l-1
(`2H` for concat and for `none`, which concatenates between layers, `H` for sum/mul/ave, and
whatever a callable merge returns for [B, T, H] halves).
The cell is the standard one::

    i, f, g, o = split(x_t @ w_ih + h_{t-1} @ w_hh + b)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bilstm_jax.core import recurrence

Array = jax.Array
# (fwd [B, T, H], bwd [B, T, H]) -> [B, T, F], batch-major like `bilstm`'s inputs and outputs.
MergeFn = Callable[[Array, Array], Any]

MERGE_FNS: dict[str, MergeFn] = {
    "concat": lambda fwd, bwd: jnp.concatenate([fwd, bwd], axis=-1),
    "sum": lambda fwd, bwd: fwd + bwd,
    "mul": lambda fwd, bwd: fwd * bwd,
    "ave": lambda fwd, bwd: (fwd + bwd) * 0.5,
    "none": lambda fwd, bwd: (fwd, bwd),
}
MERGE_MODES = tuple(MERGE_FNS)
# 'cudnn' runs each layer through cuDNN on CUDA devices and the custom_vjp scan elsewhere.
SCAN_IMPLS = (*recurrence.SCANS, "cudnn")
# Between-layer dropout: a mask per step, or one per sequence shared by its steps (variational).
DROPOUT_KINDS = ("standard", "variational")


def resolve_merge(merge_mode: str | MergeFn) -> MergeFn:
  """The merge function for a Keras merge-mode name, or the callable (fwd, bwd) -> out itself."""
  if callable(merge_mode):
    return merge_mode
  if merge_mode not in MERGE_FNS:
    raise ValueError(
        f"unknown merge_mode {merge_mode!r}; allowed: "
        + ", ".join(repr(m) for m in MERGE_MODES)
        + " or a callable (fwd [B, T, H], bwd [B, T, H]) -> [B, T, F]")
  return MERGE_FNS[merge_mode]


def _inner_merge(merge_mode: str | MergeFn) -> MergeFn:
  """Merge used between stacked layers: 'none' has no single tensor, so it concatenates there."""
  return MERGE_FNS["concat"] if merge_mode == "none" else resolve_merge(merge_mode)


def merged_size(units: int, merge_mode: str | MergeFn, bidirectional: bool) -> int:
  """Feature width of one layer's merged output (for 'none': of the concatenated pair)."""
  if not bidirectional:
    return units
  merge = _inner_merge(merge_mode)
  probe = jax.ShapeDtypeStruct((1, 1, units), jnp.float32)  # [B, T, H], as bilstm calls it
  out = jax.eval_shape(merge, probe, probe)
  return int(out.shape[-1])


def init_params(key: Array, input_size: int, units: int, num_layers: int = 1, *,
                bidirectional: bool = True, merge_mode: str | MergeFn = "concat",
                dtype=jnp.float32) -> dict:
  """Keras-style init: Glorot-uniform input kernel, orthogonal recurrent kernel, forget bias 1."""
  for name, value in (("input_size", input_size), ("units", units), ("num_layers", num_layers)):
    if int(value) <= 0:
      raise ValueError(f"{name} must be a positive integer, got {value!r}")
  num_dirs = 2 if bidirectional else 1
  hidden = units
  gates = 4 * hidden
  layers = []
  in_size = input_size
  k_ih_all, k_hh_all = jax.random.split(key)
  # Orthogonal [H, 4H] recurrent kernels (Keras' init), every layer and direction in ONE
  # vmapped QR: two QRs in one jitted computation can deadlock XLA:CPU (jax 0.10), and a user
  # may well jit this function. Two calls of it in one program (a model with a character
  # encoder) still can, at some sizes: train.init_train_state initialises those op by op.
  orth = jax.nn.initializers.orthogonal()
  w_hh_all = jax.vmap(lambda k: orth(k, (hidden, gates), dtype))(
      jax.random.split(k_hh_all, num_layers * num_dirs)).reshape(
          num_layers, num_dirs, hidden, gates)
  for index, k_ih in enumerate(jax.random.split(k_ih_all, num_layers)):
    limit = np.sqrt(6.0 / (in_size + gates))
    w_ih = jax.random.uniform(k_ih, (num_dirs, in_size, gates), dtype, -limit, limit)
    w_hh = w_hh_all[index]
    b = jnp.zeros((num_dirs, gates), dtype).at[:, hidden:2 * hidden].set(1.0)
    layers.append({"w_ih": w_ih, "w_hh": w_hh, "b": b})
    in_size = merged_size(hidden, merge_mode, bidirectional)
  return {"layers": layers}


def describe_params(params: dict) -> tuple[int, int, bool]:
  """Returns (num_layers, units, bidirectional) read off the params shapes."""
  layers = params["layers"]
  num_dirs, hidden, _ = layers[0]["w_hh"].shape
  return len(layers), hidden, num_dirs == 2


def _cudnn():
  """cudnn_lstm, imported on first use: it needs JAX internals (jax._src) and
  jax.experimental.rnn, which a JAX release may move; only scan_impl='cudnn' should depend on
  them, never `import bilstm_jax` or the default scan."""
  try:
    from bilstm_jax.core import cudnn_lstm  # pylint: disable=import-outside-toplevel
  except ImportError as err:
    raise ImportError(f"scan_impl='cudnn' needs JAX internals this jax {jax.__version__} lacks "
                      f"({err}); use scan_impl='custom_vjp'") from err
  return cudnn_lstm


def _layer(layer: dict, x_TxBxD: Array, lengths_B: Array, compute_dtype, unroll: int,
           scan_impl: str):
  """One (bi)directional layer; returns the outputs [T, B, Dir, H] and the final states."""
  if scan_impl == "cudnn":
    scan = lambda p, x, n: _layer(p, x, n, compute_dtype, unroll, "custom_vjp")
    return _cudnn().layer(layer, x_TxBxD, lengths_B, fallback=scan)
  num_dirs, in_size, gates = layer["w_ih"].shape
  num_steps, batch, _ = x_TxBxD.shape
  acc_dtype = recurrence.accumulation_dtype(layer["w_hh"].dtype)
  # The input projection of every step and both directions is ONE batched matmul
  # [Dir, T*B, D] x [Dir, D, 4H]. It writes [Dir, T, B, 4H] directly, the layout the scan
  # reads and the backward pass's gate gradients come back in, so no [*, 4H]-wide array is
  # ever transposed or reversed. The bias is added inside the scan step.
  x_DxNxD = jnp.broadcast_to(x_TxBxD.reshape(1, num_steps * batch, in_size).astype(compute_dtype),
                             (num_dirs, num_steps * batch, in_size))
  xw = jnp.einsum("knd,kdg->kng", x_DxNxD, layer["w_ih"].astype(compute_dtype),
                  preferred_element_type=acc_dtype).reshape(num_dirs, num_steps, batch, gates)
  return recurrence.SCANS[scan_impl](xw, layer["b"], layer["w_hh"], lengths_B, compute_dtype,
                                     unroll)


def _check_dropout_kind(kind: str) -> None:
  if kind not in DROPOUT_KINDS:
    raise ValueError(f"unknown dropout_kind {kind!r}; allowed: {', '.join(DROPOUT_KINDS)}")


def dropout(x_TxBxF: Array, rate: float, rng: Array, kind: str = "standard") -> Array:
  """Between-layer dropout of a time-major layer input (see `bilstm`'s dropout_kind)."""
  _check_dropout_kind(kind)
  num_steps, batch, features = x_TxBxF.shape
  shape = (num_steps if kind == "standard" else 1, batch, features)
  keep = jax.random.bernoulli(rng, 1.0 - rate, shape)
  return jnp.where(keep, x_TxBxF / (1.0 - rate), 0.0).astype(x_TxBxF.dtype)


def _user_merge(merge: MergeFn, y_TxBxDirxH: Array, valid_BxTx1: Array):
  """A callable merge on the batch-major halves it is documented to take; time-major result.

  It may use the position in the batch or in time, so it gets [B, T, H], not our internal
  time-major layout. It need not map (0, 0) to 0, and padded positions are zero by contract.
  (The built-in merges keep the scan's zeros, so they skip this pass over the output.)
  """
  halves = [jnp.transpose(y_TxBxDirxH[:, :, d], (1, 0, 2)) for d in range(2)]
  return jax.tree_util.tree_map(
      lambda y: jnp.transpose(jnp.where(valid_BxTx1, y, 0).astype(y.dtype), (1, 0, 2)),
      merge(*halves))


def bilstm(params: dict, x: Array, lengths: Array, merge_mode: str | MergeFn = "concat",
           *, dropout_rate: float = 0.0, dropout_rng: Array | None = None,
           dropout_kind: str = "standard", compute_dtype=None, return_state: bool = False,
           unroll: int = 1, scan_impl: str = "custom_vjp"):
  """Runs the stacked (bi)directional LSTM over a padded batch.

  Args:
    params: see the module docstring; forward-only when the direction axis has size 1.
    x: [B, T, D] inputs; positions t >= lengths[b] are padding and never read.
    lengths: [B] int valid lengths (clipped to [0, T]); 0 gives all-zero outputs and states.
    merge_mode: 'concat', 'sum', 'mul', 'ave', 'none' (returns the (fwd, bwd) pair) or a
      callable (fwd [B, T, H], bwd [B, T, H]) -> [B, T, F], batch-major like x (its output is
      zeroed at padded positions afterwards). Layers below the last always feed the next one
      the merged output ('none' concatenates there). Ignored when forward-only.
    dropout_rate: dropout on the input of every layer but the first (needs dropout_rng); the
      kept values are scaled by 1 / (1 - dropout_rate). The recurrent state is never dropped.
    dropout_kind: 'standard' draws a fresh mask for every time step, sequence and feature;
      'variational' draws one per sequence and feature and applies it at every time step of
      that sequence (Gal & Ghahramani 2016, on the inputs between layers).
    compute_dtype: dtype of the matmul operands (e.g. jnp.bfloat16); gates, states and
      accumulation stay float32 (float64 for float64 params). Defaults to the params' dtype.
    return_state: also return {"h": [L, Dir, B, H], "c": [L, Dir, B, H]}: the forward state at
      each sequence's last valid step and the backward state after its first token.
    unroll: lax.scan unroll factor.
    scan_impl: 'custom_vjp' (hand-written backward scan, the fast default) or 'autodiff';
      both compute the same function and gradients (see recurrence.py). 'cudnn': cuDNN's
      LSTM on CUDA devices, the custom_vjp scan elsewhere; float32 only (cudnn_lstm.py).

  Returns:
    outputs [B, T, F] (zero at padded positions), a (fwd, bwd) pair for 'none', and the state
    dict when return_state.
  """
  merge = resolve_merge(merge_mode)
  inner_merge = _inner_merge(merge_mode)
  if compute_dtype is None:
    compute_dtype = params["layers"][0]["w_hh"].dtype
  compute_dtype = jnp.dtype(compute_dtype)
  if scan_impl not in SCAN_IMPLS:
    raise ValueError(f"unknown scan_impl {scan_impl!r}; allowed: {', '.join(SCAN_IMPLS)}")
  param_dtypes = {jnp.dtype(a.dtype).name for a in jax.tree_util.tree_leaves(params)}
  if scan_impl == "cudnn" and param_dtypes | {compute_dtype.name} != {"float32"}:
    raise ValueError("scan_impl='cudnn' runs float32 only (jax.experimental.rnn has no other "
                     f"LSTM dtype); got params {sorted(param_dtypes)}, compute_dtype "
                     f"{compute_dtype.name}: use scan_impl='custom_vjp' for those")
  if dropout_rate > 0.0 and dropout_rng is None:
    raise ValueError("dropout_rate > 0 needs a dropout_rng")
  _check_dropout_kind(dropout_kind)  # also where nothing is dropped: a typo fails at once
  batch, num_steps, _ = x.shape
  lengths_B = jnp.clip(jnp.asarray(lengths, jnp.int32), 0, num_steps)
  valid_BxTx1 = (jnp.arange(num_steps)[None, :] < lengths_B[:, None])[:, :, None]

  h_states, c_states = [], []
  layer_in = jnp.transpose(x, (1, 0, 2))  # time-major: one step is a contiguous block
  num_layers = len(params["layers"])
  for index, layer in enumerate(params["layers"]):
    if index > 0 and dropout_rate > 0.0:
      layer_in = dropout(layer_in, dropout_rate, jax.random.fold_in(dropout_rng, index),
                         dropout_kind)
    y_TxBxDirxH, h_n, c_n = _layer(layer, layer_in, lengths_B, compute_dtype, unroll,
                                   scan_impl)
    h_states.append(h_n)
    c_states.append(c_n)
    num_dirs, hidden = y_TxBxDirxH.shape[2:]
    layer_merge = merge if index == num_layers - 1 else inner_merge
    if num_dirs == 1:
      merged = y_TxBxDirxH[:, :, 0]
    elif layer_merge is MERGE_FNS["concat"]:
      merged = y_TxBxDirxH.reshape(num_steps, batch, num_dirs * hidden)  # free: same bytes
    elif callable(merge_mode):
      merged = _user_merge(layer_merge, y_TxBxDirxH, valid_BxTx1)
    else:  # elementwise: any layout will do, so the time-major one, without transposes
      merged = layer_merge(y_TxBxDirxH[:, :, 0], y_TxBxDirxH[:, :, 1])
    layer_in = merged
  outputs = jax.tree_util.tree_map(lambda y: jnp.transpose(y, (1, 0, 2)), layer_in)
  if return_state:
    return outputs, {"h": jnp.stack(h_states), "c": jnp.stack(c_states)}
  return outputs
