"""The bench's systems by name: ours and Flax here, PyTorch and Keras from `bench_peers`.

Every system gets the same weights (through `interop` for PyTorch and Keras, a slicing map for
Flax's per-gate kernels), the same batch and the same loss (`bench_problem`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Re-exported: benchmark.py and the tests reach every system's pieces through this module.
from bilstm_jax.bench.peers import build_keras, build_torch, torch_device  # noqa: F401
from bilstm_jax.bench.problem import Problem, Shape, System, make_problem, masked_xent, step_flops  # noqa: F401
from bilstm_jax.core import lstm

GATES = ("i", "f", "g", "o")  # the gate order of ours, PyTorch, Keras and Flax
OURS_OPTIONS = {"scan_impl": str, "unroll": int, "compute_dtype": str}


# --- JAX systems: ours and Flax share the jitted steps ------------------------------------------


def _jax_system(name, encode, params, problem, to_ours, how, **tolerances) -> System:
  """Jitted train (state donated) and infer steps around encode(params, x, lengths) [B,T,2H]."""

  def logits_fn(params, x, lengths):
    return encode(params, x, lengths) @ params["head"]["w"] + params["head"]["b"][None, None]

  def loss_fn(params, batch):
    return masked_xent(logits_fn(params, batch["x"], batch["lengths"]), batch["labels"],
                       batch["mask"])

  tx = optax.adam(problem.learning_rate)

  @functools.partial(jax.jit, donate_argnums=0)
  def train(state, batch):
    params, opt_state = state
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  infer = jax.jit(lambda params, batch: logits_fn(params, batch["x"], batch["lengths"]))
  batch = jax.device_put({"x": problem.x, "lengths": problem.lengths, "labels": problem.labels,
                          "mask": problem.mask})
  params = jax.device_put(params)
  holder = {"state": (params, tx.init(params))}

  def train_step():
    holder["state"], loss = train(holder["state"], batch)
    jax.block_until_ready((holder["state"], loss))

  def infer_step():
    infer(holder["state"][0], batch).block_until_ready()

  def loss_and_grads():
    loss, grads = jax.jit(jax.value_and_grad(loss_fn))(holder["state"][0], batch)
    return float(loss), to_ours(jax.tree_util.tree_map(np.asarray, grads))

  outputs = lambda: np.asarray(jax.jit(encode)(holder["state"][0], batch["x"], batch["lengths"]))
  return System(name, outputs, loss_and_grads, train_step, infer_step, how, **tolerances)


def build_ours(problem: Problem, **options) -> System:
  """`bilstm` with keyword options (scan_impl, unroll, compute_dtype) as a row of its own."""
  unknown = set(options) - set(OURS_OPTIONS)
  if unknown:
    raise ValueError(f"unknown bilstm_jax option(s) {sorted(unknown)}; allowed: "
                     + ", ".join(OURS_OPTIONS))
  encode = lambda params, x, lengths: lstm.bilstm(params["lstm"], x, lengths, "concat", **options)
  name = "bilstm_jax" + (
      "[" + ",".join(f"{k}={v}" for k, v in options.items()) + "]" if options else "")
  loose = options.get("compute_dtype") not in (None, "float32")
  tolerances = {"out_atol": 5e-2, "grad_rtol": 1e-1} if loose else {}
  how = "jax.jit, state donated; optax.adam"
  if options.get("scan_impl") == "cudnn":
    # Imported here, as core/lstm.py does: the cuDNN path needs JAX internals.
    from bilstm_jax.core import cudnn_lstm  # pylint: disable=import-outside-toplevel
    on_cuda = cudnn_lstm.cuda_available() and jax.default_backend() == "gpu"
    how += ("; cuDNN LSTM (jax.experimental.rnn)" if on_cuda else "; no CUDA here: the scan")
  return _jax_system(name, encode, {"lstm": problem.lstm, "head": problem.head}, problem,
                     lambda g: g, how, **tolerances)


def _flax_cell_params(w_ih, w_hh, b):
  """Our fused [D,4H]/[H,4H]/[4H] -> Flax's per-gate ii..io (no bias) and hi..ho (with bias)."""
  split = lambda a: np.split(np.asarray(a), 4, axis=-1)
  cell = {}
  for gate, k_in, k_h, bias in zip(GATES, split(w_ih), split(w_hh), split(b)):
    cell["i" + gate] = {"kernel": k_in}
    cell["h" + gate] = {"kernel": k_h, "bias": bias}
  return cell


def _ours_from_flax_cell(cell):
  cat = lambda parts: np.concatenate(parts, axis=-1)
  return (cat([cell["i" + g]["kernel"] for g in GATES]),
          cat([cell["h" + g]["kernel"] for g in GATES]),
          cat([cell["h" + g]["bias"] for g in GATES]))


def build_flax(problem: Problem, cell: str = "optimized") -> System:
  """linen `nn.Bidirectional(nn.RNN(cell), nn.RNN(cell))` per layer, `seq_lengths` passed."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  cell_cls = {"optimized": nn.OptimizedLSTMCell, "plain": nn.LSTMCell}[cell]
  units, num_layers = problem.shape.units, problem.shape.layers

  class Encoder(nn.Module):

    @nn.compact
    def __call__(self, x, lengths):
      # Cells built here belong to this module (nn.RNN only holds a reference), so their
      # params sit at the top level under these names.
      for index in range(num_layers):
        x = nn.Bidirectional(nn.RNN(cell_cls(units, name=f"fwd_{index}")),
                             nn.RNN(cell_cls(units, name=f"bwd_{index}")))(
                                 x, seq_lengths=lengths)
      return x

  directions = ("fwd", "bwd")
  lstm_params = {}
  for index, layer in enumerate(problem.lstm["layers"]):
    for d, prefix in enumerate(directions):
      lstm_params[f"{prefix}_{index}"] = _flax_cell_params(layer["w_ih"][d], layer["w_hh"][d],
                                                           layer["b"][d])
  spec = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, jnp.dtype(a.dtype).name), tree)
  expected = spec(jax.eval_shape(Encoder().init, jax.random.PRNGKey(0), problem.x,
                                 problem.lengths)["params"])
  if expected != spec(lstm_params):
    raise ValueError(f"Flax {cell_cls.__name__} params are {expected}, "
                     f"the mapped ones {spec(lstm_params)}")

  def to_ours(grads):
    layers = []
    for index in range(num_layers):
      per_dir = [_ours_from_flax_cell(grads["lstm"][f"{prefix}_{index}"])
                 for prefix in directions]
      layers.append({k: np.stack([d[i] for d in per_dir]) for i, k in enumerate(("w_ih", "w_hh",
                                                                                  "b"))})
    return {"lstm": {"layers": layers}, "head": grads["head"]}

  encode = lambda params, x, lengths: Encoder().apply({"params": params["lstm"]}, x, lengths)
  name = {"optimized": "flax OptimizedLSTMCell", "plain": "flax LSTMCell"}[cell]
  return _jax_system(name, encode, {"lstm": lstm_params, "head": problem.head}, problem,
                     to_ours, "jax.jit, state donated; optax.adam")


BUILDERS: dict[str, Callable[[Problem], System]] = {
    "ours": build_ours,
    "flax_optimized": functools.partial(build_flax, cell="optimized"),
    "flax_plain": functools.partial(build_flax, cell="plain"),
    "torch": build_torch,
    "keras": build_keras,
}
OPTIONAL = {"torch": "torch", "keras": "keras"}  # system -> the module it needs


def is_available(system: str) -> bool:
  """Whether the system's framework imports here (without importing it)."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  module = OPTIONAL.get(system)
  return module is None or importlib.util.find_spec(module) is not None


def parse_ours(spec: str) -> dict:
  """'scan_impl=autodiff,unroll=2' -> {'scan_impl': 'autodiff', 'unroll': 2}."""
  options = {}
  for item in filter(None, (s.strip() for s in spec.split(","))):
    key, sep, value = item.partition("=")
    if not sep or key not in OURS_OPTIONS:
      raise ValueError(f"bad --ours item {item!r}; expected key=value with key in "
                       + ", ".join(OURS_OPTIONS))
    options[key] = OURS_OPTIONS[key](value)
  if options.get("scan_impl", "custom_vjp") not in lstm.SCAN_IMPLS:
    raise ValueError(f"bad --ours scan_impl {options['scan_impl']!r}; allowed: "
                     + ", ".join(lstm.SCAN_IMPLS))
  return options
