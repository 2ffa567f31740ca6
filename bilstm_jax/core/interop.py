"""Numpy-only weight converters between `bilstm` params and PyTorch nn.LSTM / Keras Bidirectional.

Both frameworks use the gate order i, f, g(c), o, the same as ours, so conversion is only
transposes and (for PyTorch) summing the two biases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

_TORCH_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def from_torch(state_dict: Mapping[str, np.ndarray]) -> dict:
  """Params for `bilstm` from `torch.nn.LSTM(..., batch_first=True).state_dict()` as numpy.

  Works for any num_layers, bidirectional or not; bias=False gives zero biases.
  PyTorch's two biases are summed into our single bias. Stacked PyTorch layers feed the
  next layer the concatenation of both directions, which is `bilstm`'s merge between layers
  for 'concat' (and 'none').
  """
  groups: dict[tuple[int, int], dict[str, np.ndarray]] = {}
  for name, value in state_dict.items():
    match = _TORCH_KEY.match(name)
    if match is None:
      raise ValueError(
          f"unexpected key {name!r} in the nn.LSTM state_dict; expected weight_ih_l<k>, "
          "weight_hh_l<k>, bias_ih_l<k>, bias_hh_l<k>, each optionally with '_reverse' "
          "(proj_size > 0 is not supported)")
    kind, layer, reverse = match.groups()
    groups.setdefault((int(layer), 1 if reverse else 0), {})[kind] = np.asarray(value)
  if not groups:
    raise ValueError("the nn.LSTM state_dict is empty")
  num_layers = 1 + max(layer for layer, _ in groups)
  num_dirs = 1 + max(direction for _, direction in groups)
  layers = []
  for layer in range(num_layers):
    w_ih, w_hh, b = [], [], []
    for direction in range(num_dirs):
      suffix = f"_l{layer}" + ("_reverse" if direction else "")
      tensors = groups.get((layer, direction), {})
      for kind in ("weight_ih", "weight_hh"):
        if kind not in tensors:
          raise ValueError(f"state_dict is missing {kind + suffix!r}")
      gates, hidden = tensors["weight_hh"].shape
      if gates != 4 * hidden or tensors["weight_ih"].shape[0] != gates:
        raise ValueError(
            f"layer {layer}{' reverse' if direction else ''}: expected weight_ih [4H, D] and "
            f"weight_hh [4H, H], got {tensors['weight_ih'].shape} and {tensors['weight_hh'].shape}")
      if ("bias_ih" in tensors) != ("bias_hh" in tensors):
        raise ValueError(f"state_dict has only one of bias_ih{suffix!s} and bias_hh{suffix!s}; "
                         "nn.LSTM has both (bias=True) or neither (bias=False)")
      w_ih.append(tensors["weight_ih"].T)
      w_hh.append(tensors["weight_hh"].T)
      b.append(tensors.get("bias_ih", np.zeros(gates, tensors["weight_hh"].dtype))
               + tensors.get("bias_hh", np.zeros(gates, tensors["weight_hh"].dtype)))
    layers.append({"w_ih": np.stack(w_ih), "w_hh": np.stack(w_hh), "b": np.stack(b)})
  return {"layers": layers}


def to_torch(params: Mapping) -> dict[str, np.ndarray]:
  """The inverse of `from_torch`: an nn.LSTM state_dict (numpy) computing the same function.

  The whole bias goes to bias_ih and bias_hh is zero, so from_torch(to_torch(p)) == p exactly
  and to_torch(from_torch(sd)) equals sd up to how the bias is split between the two.
  """
  state = {}
  for layer, tensors in enumerate(params["layers"]):
    w_ih, w_hh, b = (np.asarray(tensors[k]) for k in ("w_ih", "w_hh", "b"))
    for direction in range(w_ih.shape[0]):
      suffix = f"_l{layer}" + ("_reverse" if direction else "")
      state["weight_ih" + suffix] = np.ascontiguousarray(w_ih[direction].T)
      state["weight_hh" + suffix] = np.ascontiguousarray(w_hh[direction].T)
      state["bias_ih" + suffix] = b[direction].copy()
      state["bias_hh" + suffix] = np.zeros_like(b[direction])
  return state


def from_keras(weights: Sequence[np.ndarray]) -> dict:
  """Params from `Bidirectional(LSTM(H, return_sequences=True)).get_weights()`.

  The list is [fw_kernel [D,4H], fw_recurrent [H,4H], fw_bias [4H], bw_kernel, bw_recurrent,
  bw_bias]; a list of 3 (a plain `LSTM`) gives forward-only params. Use the same merge_mode in
  `bilstm` as in the Keras layer. A stack of Bidirectional layers is the concatenation of the
  lists, six arrays per layer.
  """
  weights = [np.asarray(w) for w in weights]
  if len(weights) == 3:
    per_layer = 3
  elif len(weights) % 6 == 0 and weights:
    per_layer = 6
  else:
    raise ValueError(
        f"expected 3 arrays (LSTM) or 6 per layer (Bidirectional(LSTM)), got {len(weights)}")
  layers = []
  for start in range(0, len(weights), per_layer):
    chunk = weights[start:start + per_layer]
    directions = [chunk[i:i + 3] for i in range(0, per_layer, 3)]
    for kernel, recurrent, bias in directions:
      if kernel.ndim != 2 or recurrent.shape != (recurrent.shape[0], 4 * recurrent.shape[0]) \
          or bias.shape != (kernel.shape[1],) or kernel.shape[1] != recurrent.shape[1]:
        raise ValueError(
            "Keras LSTM weights must be kernel [D, 4H], recurrent_kernel [H, 4H], bias [4H]; got "
            f"{kernel.shape}, {recurrent.shape}, {bias.shape}")
    if len(directions) == 2 and directions[0][1].shape != directions[1][1].shape:
      raise ValueError("forward and backward Keras LSTMs must have the same units, got "
                       f"recurrent kernels {directions[0][1].shape} and {directions[1][1].shape}")
    layers.append({
        "w_ih": np.stack([d[0] for d in directions]),
        "w_hh": np.stack([d[1] for d in directions]),
        "b": np.stack([d[2] for d in directions]),
    })
  return {"layers": layers}


def to_keras(params: Mapping) -> list[np.ndarray]:
  """The inverse of `from_keras`: the weight list for `set_weights` on the Keras layer(s)."""
  weights = []
  for tensors in params["layers"]:
    w_ih, w_hh, b = (np.asarray(tensors[k]) for k in ("w_ih", "w_hh", "b"))
    for direction in range(w_ih.shape[0]):
      weights += [w_ih[direction].copy(), w_hh[direction].copy(), b[direction].copy()]
  return weights
