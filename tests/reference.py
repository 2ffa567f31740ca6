"""Float64 numpy references: our documented core, and PyTorch's and Keras' LSTM semantics."""

import numpy as np


def sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


def run_direction(x_TxD, w_ih, w_hh, b_ih, b_hh=0.0, mask_T=None):
  """One LSTM direction over a sequence; masked steps keep the state and output zero."""
  hidden = w_hh.shape[0]
  h = np.zeros(hidden)
  c = np.zeros(hidden)
  outs = np.zeros((x_TxD.shape[0], hidden))
  for t in range(x_TxD.shape[0]):
    if mask_T is not None and not mask_T[t]:
      continue
    z = x_TxD[t] @ w_ih + b_ih + h @ w_hh + b_hh
    i, f, g, o = np.split(z, 4)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    outs[t] = h
  return outs, h, c


MERGES = {
    "concat": lambda f, b: np.concatenate([f, b], -1),
    "sum": lambda f, b: f + b,
    "mul": lambda f, b: f * b,
    "ave": lambda f, b: (f + b) / 2,
}


def _merge(merge_mode, f_out, b_out):
  """A named merge, or a callable one on [1, n, H] batch-major halves (as bilstm documents)."""
  if callable(merge_mode):
    return np.asarray(merge_mode(f_out[None], b_out[None]), np.float64)[0]
  return MERGES[merge_mode](f_out, b_out)


def ours(params, x_BxTxD, lengths_B, merge_mode="concat", input_scales=None):
  """Per example, per layer: forward over x[:n], backward over reversed x[:n], merge, pad zero.

  input_scales: optional {layer index: [B, T or 1, F]} multipliers of that layer's input (a
  dropout mask with its 1 / (1 - rate) scaling).
  Returns (outputs or (fwd, bwd) for 'none', h [L,Dir,B,H], c [L,Dir,B,H]).
  """
  layers = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in params["layers"]]
  batch, num_steps, _ = x_BxTxD.shape
  num_dirs, hidden = layers[0]["w_hh"].shape[:2]
  h_n = np.zeros((len(layers), num_dirs, batch, hidden))
  c_n = np.zeros_like(h_n)
  results = []
  for bi in range(batch):
    n = int(lengths_B[bi])
    inp = np.asarray(x_BxTxD[bi, :n], np.float64)
    for li, layer in enumerate(layers):
      if input_scales is not None and li in input_scales:
        scale = np.asarray(input_scales[li][bi], np.float64)
        inp = inp * np.broadcast_to(scale, (num_steps, inp.shape[-1]))[:n]
      f_out, h_n[li, 0, bi], c_n[li, 0, bi] = run_direction(
          inp, layer["w_ih"][0], layer["w_hh"][0], layer["b"][0])
      if num_dirs == 1:
        merged = f_out
      else:
        b_rev, h_n[li, 1, bi], c_n[li, 1, bi] = run_direction(
            inp[::-1], layer["w_ih"][1], layer["w_hh"][1], layer["b"][1])
        b_out = b_rev[::-1]
        last = li == len(layers) - 1
        if last and merge_mode == "none":
          merged = (f_out, b_out)
        elif not last and merge_mode == "none":
          merged = MERGES["concat"](f_out, b_out)
        else:
          merged = _merge(merge_mode, f_out, b_out)
      inp = merged
    results.append(inp)

  def pad(seqs):
    width = seqs[0].shape[-1]
    out = np.zeros((batch, num_steps, width))
    for bi, seq in enumerate(seqs):
      out[bi, :len(seq)] = seq
    return out

  if isinstance(results[0], tuple):
    return (pad([r[0] for r in results]), pad([r[1] for r in results])), h_n, c_n
  return pad(results), h_n, c_n


def torch_lstm(state_dict, x_BxTxD, lengths_B):
  """PyTorch nn.LSTM(bidirectional, batch_first) on a packed sequence, padded back with zeros.

  PyTorch keeps W as [4H, in] with two biases, and stacked layers take the concatenation.
  """
  sd = {k: np.asarray(v, np.float64) for k, v in state_dict.items()}
  num_layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in sd)
  bidirectional = any(k.endswith("_reverse") for k in sd)
  batch, num_steps, _ = x_BxTxD.shape
  hidden = sd["weight_hh_l0"].shape[1]
  out = np.zeros((batch, num_steps, hidden * (2 if bidirectional else 1)))
  for bi in range(batch):
    n = int(lengths_B[bi])
    inp = np.asarray(x_BxTxD[bi, :n], np.float64)
    for layer in range(num_layers):
      parts = []
      for suffix in ([""] + (["_reverse"] if bidirectional else [])):
        s = f"_l{layer}{suffix}"
        seq = inp[::-1] if suffix else inp
        y, _, _ = run_direction(seq, sd["weight_ih" + s].T, sd["weight_hh" + s].T,
                                sd["bias_ih" + s], sd["bias_hh" + s])
        parts.append(y[::-1] if suffix else y)
      inp = np.concatenate(parts, -1)
    out[bi, :n] = inp
  return out


def keras_bidirectional(weights, x_BxTxD, mask_BxT, merge_mode):
  """Keras Bidirectional(LSTM(return_sequences=True)) with a mask.

  The backward layer runs with go_backwards=True on the whole (padded) sequence, so padding
  comes first and is skipped by the mask; its outputs are flipped back in time; masked
  positions output zero; then the two are merged.
  """
  fw = [np.asarray(w, np.float64) for w in weights[:3]]
  bw = [np.asarray(w, np.float64) for w in weights[3:6]]
  fwd = np.stack([run_direction(x, *fw, mask_T=m)[0] for x, m in zip(x_BxTxD, mask_BxT)])
  bwd = np.stack([run_direction(x[::-1], *bw, mask_T=m[::-1])[0][::-1]
                  for x, m in zip(x_BxTxD, mask_BxT)])
  if merge_mode == "none":
    return fwd, bwd
  return MERGES[merge_mode](fwd, bwd)
