"""One (bi)directional layer through cuDNN (`jax.experimental.rnn`), with our params.

`scan_impl="cudnn"` in `lstm.bilstm` runs each layer here; lstm.py imports this module only
then, so the experimental and private JAX modules it needs never load otherwise. The params
stay ours: the layer's [Dir, D, 4H] / [Dir, H, 4H] / [Dir, 4H] arrays are packed, inside the
jitted function, into the flat weight vector cuDNN takes, so gradients flow back to the same
pytree and a checkpoint trained on GPU loads into the scan on CPU (and back).

cuDNN's packed layout for one layer (what `jax.experimental.rnn.unpack_lstm_weights` reads):
the matrices of every direction, then the biases of every direction::

    W_ih^fwd [4H, D], W_hh^fwd [4H, H], W_ih^bwd, W_hh^bwd, b_ih^fwd [4H], b_hh^fwd, b_ih^bwd, b_hh^bwd

with the gate blocks in PyTorch's order i, f, g, o, which is ours. Our one bias is b_ih; b_hh
is zero (its gradient, equal to b_ih's, is dropped).

Where no CUDA backend is present (CPU, TPU, a CPU-only jaxlib) the same call runs our scan
(`recurrence.scan_custom_vjp`); with one, `jax.lax.platform_dependent` picks cuDNN for CUDA
devices and the scan for any other device in the same process. cuDNN runs float32 only
(jax.experimental.rnn has no bfloat16 LSTM), with TF32 matmuls unless
`jax.default_matmul_precision("highest")` is in force.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import rnn
from jax.interpreters import mlir


def cuda_available() -> bool:
  """Whether this jaxlib can lower jax.experimental.rnn to cuDNN (a CUDA plugin is installed)."""
  return rnn.gpu_rnn is not None and hasattr(rnn.gpu_rnn,
                                             "compute_rnn_workspace_reserve_space_sizes")


def pin_row_major(lowering):
  """A lowering rule whose custom call has row-major operand and result layouts.

  jaxlib's cuDNN RNN lowering emits its custom call without layouts, so XLA may hand it the
  layout of a neighbouring transpose; cuDNN then reads and writes buffers in an order XLA does
  not expect. (On an H200 our time-major layer got wrong gradients that way while rnn.lstm
  alone was right; see experiments/cudnn_gpu_check.py.)
  """
  # Private and imported here, on a CUDA device's first cudnn call, so a JAX release that
  # moves it breaks only this path (lstm.py imports this module only for scan_impl='cudnn').
  from jax._src.lib.mlir import ir  # pylint: disable=import-outside-toplevel

  def rule(ctx, *args, **params):
    results = lowering(ctx, *args, **params)
    op = results[0].owner
    op = getattr(op, "operation", op)
    row_major = lambda values: ir.ArrayAttr.get([
        ir.DenseIntElementsAttr.get(np.arange(ir.RankedTensorType(v.type).rank - 1, -1, -1,
                                              dtype=np.int64), type=ir.IndexType.get())
        for v in values])
    op.attributes["operand_layouts"] = row_major(op.operands)
    op.attributes["result_layouts"] = row_major(op.results)
    return results
  return rule


_PINNED = []


def pin_cudnn_layouts() -> None:
  """Re-registers jax.experimental.rnn's CUDA lowerings with row-major layouts (once)."""
  if _PINNED or not cuda_available():
    return
  mlir.register_lowering(rnn.rnn_fwd_p, pin_row_major(rnn.gpu_rnn.cudnn_rnn_lowering),
                         platform="cuda")
  mlir.register_lowering(rnn.rnn_bwd_p, pin_row_major(rnn.gpu_rnn.cudnn_rnn_bwd_lowering),
                         platform="cuda")
  _PINNED.append(True)


def pack_weights(layer: dict) -> jax.Array:
  """Our layer params -> cuDNN's flat weight vector (layout in the module docstring)."""
  num_dirs = layer["w_ih"].shape[0]
  matrices = [m for d in range(num_dirs)
              for m in (layer["w_ih"][d].T.ravel(), layer["w_hh"][d].T.ravel())]
  biases = [v for d in range(num_dirs) for v in (layer["b"][d], jnp.zeros_like(layer["b"][d]))]
  return jnp.concatenate(matrices + biases)


def cudnn_layer_batch_major(layer: dict, x_BxTxD: jax.Array, lengths_B: jax.Array,
                            lstm_fn=None):
  """cuDNN's LSTM on batch-major arrays, no transpose next to the call: (y [B, T, Dir*H] with
  zeros past each length, h_n [Dir, B, H], c_n [Dir, B, H]).

  lstm_fn: `jax.experimental.rnn.lstm` by default; a function with its signature otherwise
  (the tests pass JAX's pure reference of the same packed layout).
  """
  lstm_fn = lstm_fn or rnn.lstm
  num_dirs, in_size, gates = layer["w_ih"].shape
  hidden = gates // 4
  batch, num_steps, _ = x_BxTxD.shape
  zeros = jnp.zeros((num_dirs, batch, hidden), jnp.float32)
  # cuDNN wants every length >= 1; a length-0 row runs one step and is zeroed below.
  y_BxTxF, h_n, c_n = lstm_fn(
      x_BxTxD.astype(jnp.float32), zeros, zeros, pack_weights(layer),
      jnp.maximum(lengths_B, 1).astype(jnp.int32), input_size=in_size, hidden_size=hidden,
      num_layers=1, dropout=0.0, bidirectional=num_dirs == 2)
  valid_BxTx1 = (jnp.arange(num_steps)[None, :] < lengths_B[:, None])[:, :, None]
  started_1xBx1 = (lengths_B > 0)[None, :, None]
  return (jnp.where(valid_BxTx1, y_BxTxF, 0.0), jnp.where(started_1xBx1, h_n, 0.0),
          jnp.where(started_1xBx1, c_n, 0.0))


def cudnn_layer(layer: dict, x_TxBxD: jax.Array, lengths_B: jax.Array, lstm_fn=None):
  """The `recurrence` contract (y [T, B, Dir, H], h_n [Dir, B, H], c_n) through cuDNN's LSTM."""
  num_dirs, _, gates = layer["w_ih"].shape
  num_steps, batch, _ = x_TxBxD.shape
  y_BxTxF, h_n, c_n = cudnn_layer_batch_major(layer, jnp.transpose(x_TxBxD, (1, 0, 2)),
                                              lengths_B, lstm_fn)
  y = jnp.transpose(y_BxTxF.reshape(batch, num_steps, num_dirs, gates // 4), (1, 0, 2, 3))
  return y, h_n, c_n


def layer(layer_params: dict, x_TxBxD: jax.Array, lengths_B: jax.Array, fallback):
  """cuDNN on CUDA devices, `fallback` (same arguments and contract: our scan) elsewhere."""
  if not cuda_available():
    return fallback(layer_params, x_TxBxD, lengths_B)
  pin_cudnn_layouts()
  return jax.lax.platform_dependent(layer_params, x_TxBxD, lengths_B, cuda=cudnn_layer,
                                    default=fallback)
