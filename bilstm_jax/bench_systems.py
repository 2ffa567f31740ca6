"""The bench's problem (one BiLSTM tagger) and one builder per system: ours, Flax, PyTorch, Keras.

Every system gets the same weights (through `interop` for PyTorch and Keras, a slicing map for
Flax's per-gate kernels), the same batch and the same loss: a stack of bidirectional LSTM layers
(concat merge) with a per-token linear head and softmax cross-entropy averaged over valid tokens.
A `System` exposes what the bench checks (LSTM outputs, loss and gradients in our params layout,
all at the initial weights) and what it times (one train step = forward + backward + Adam
update; one inference step = forward to the logits). torch and keras are imported only inside
their builders.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bilstm_jax import interop, lstm, recurrence

GATES = ("i", "f", "g", "o")  # the gate order of ours, PyTorch, Keras and Flax
OURS_OPTIONS = {"scan_impl": str, "unroll": int, "compute_dtype": str}


@dataclasses.dataclass(frozen=True)
class Shape:
  batch: int
  steps: int
  features: int
  units: int
  layers: int = 1
  classes: int = 32


@dataclasses.dataclass(frozen=True)
class Problem:
  """Weights in our layout plus one batch; `lstm` is {"layers": [...]}, `head` is {"w", "b"}."""
  shape: Shape
  lstm: dict
  head: dict
  x: np.ndarray         # [B, T, D] float32
  lengths: np.ndarray   # [B] int32, all >= 1 (packed sequences reject 0)
  labels: np.ndarray    # [B, T] int32
  mask: np.ndarray      # [B, T] float32, 1 at valid tokens
  learning_rate: float = 1e-3


@dataclasses.dataclass
class System:
  """One benchmarked implementation. The first three are for the check: call them first."""
  name: str
  outputs: Callable[[], np.ndarray]   # last LSTM layer's merged outputs [B, T, 2H]
  loss_and_grads: Callable[[], tuple[float, dict]]  # grads as {"lstm": ..., "head": ...}
  train_step: Callable[[], None]      # blocks until the step is done
  infer_step: Callable[[], None]
  how: str = ""                       # how the step is run, for the report
  out_atol: float = 1e-4
  grad_rtol: float = 1e-3


def make_problem(shape: Shape, lengths: str = "full", seed: int = 0) -> Problem:
  """Keras-style LSTM init with random (not only forget-gate) biases, so a bias mix-up shows."""
  rng = np.random.default_rng(seed)
  params = lstm.init_params(jax.random.PRNGKey(seed), shape.features, shape.units, shape.layers)
  params = jax.tree_util.tree_map(np.asarray, params)
  for layer in params["layers"]:
    layer["b"] = layer["b"] + 0.1 * rng.standard_normal(layer["b"].shape).astype(np.float32)
  width = 2 * shape.units
  limit = np.sqrt(6.0 / (width + shape.classes))
  head = {"w": rng.uniform(-limit, limit, (width, shape.classes)).astype(np.float32),
          "b": (0.1 * rng.standard_normal(shape.classes)).astype(np.float32)}
  batch, steps = shape.batch, shape.steps
  if lengths == "full":
    len_B = np.full(batch, steps, np.int32)
  elif lengths == "random":
    len_B = rng.integers(max(1, steps // 2), steps + 1, size=batch).astype(np.int32)
    len_B[0] = steps  # the padded batch is exactly T long
  else:
    raise ValueError(f"lengths must be 'full' or 'random', got {lengths!r}")
  mask = (np.arange(steps)[None, :] < len_B[:, None]).astype(np.float32)
  return Problem(shape, params, head,
                 rng.standard_normal((batch, steps, shape.features)).astype(np.float32),
                 len_B, rng.integers(0, shape.classes, (batch, steps)).astype(np.int32), mask)


def step_flops(shape: Shape, tokens: int) -> dict[str, float]:
  """Matmul FLOPs over `tokens` valid tokens: input projection, recurrent, head; train = 3x."""
  hidden, gates = shape.units, 4 * shape.units
  forward, in_size = 0.0, shape.features
  for _ in range(shape.layers):
    forward += 2 * (2.0 * tokens * in_size * gates + 2.0 * tokens * hidden * gates)
    in_size = 2 * hidden
  forward += 2.0 * tokens * 2 * hidden * shape.classes
  return {"infer": forward, "train": 3 * forward}


def masked_xent(logits, labels, mask):
  """Mean softmax cross-entropy over valid tokens."""
  nll = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
  return jnp.sum(nll * mask) / jnp.sum(mask)


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
  return _jax_system(name, encode, {"lstm": problem.lstm, "head": problem.head}, problem,
                     lambda g: g, "jax.jit, state donated; optax.adam", **tolerances)


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


# --- PyTorch ------------------------------------------------------------------------------------


def torch_device() -> str:
  """'cuda' when JAX runs on a GPU and PyTorch sees one too (the systems then share it)."""
  import torch  # pylint: disable=import-outside-toplevel
  return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def build_torch(problem: Problem, threads: int | None = None) -> System:
  """nn.LSTM(bidirectional, batch_first) over packed sequences + nn.Linear; torch.optim.Adam.

  `threads` (default: every core) goes to torch.set_num_threads, which is process-wide. On a
  GPU (see torch_device) the module and batch live there, nn.LSTM runs cuDNN, and each timed
  step ends with torch.cuda.synchronize().
  """
  import torch  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(threads or os.cpu_count() or 1)
  device = torch_device()
  sync = torch.cuda.synchronize if device == "cuda" else lambda: None
  shape = problem.shape
  module = torch.nn.LSTM(shape.features, shape.units, num_layers=shape.layers,
                         bidirectional=True, batch_first=True)
  module.load_state_dict({k: torch.from_numpy(v) for k, v in
                          interop.to_torch(problem.lstm).items()}, strict=True)
  head = torch.nn.Linear(2 * shape.units, shape.classes)
  with torch.no_grad():
    head.weight.copy_(torch.from_numpy(problem.head["w"].T))
    head.bias.copy_(torch.from_numpy(problem.head["b"]))
  module, head = module.to(device), head.to(device)
  params = list(module.parameters()) + list(head.parameters())
  optimizer = torch.optim.Adam(params, lr=problem.learning_rate)
  x, labels = torch.from_numpy(problem.x).to(device), torch.from_numpy(problem.labels).long()
  labels, mask = labels.to(device), torch.from_numpy(problem.mask).to(device)
  lengths = torch.from_numpy(problem.lengths).long()  # packing reads lengths on the CPU
  host = lambda t: t.detach().cpu().numpy()

  def encode():
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                     enforce_sorted=False)
    y, _ = module(packed)
    return torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True,
                                                  total_length=shape.steps)[0]

  def loss_fn():
    logits = head(encode())
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, shape.classes),
                                            labels.reshape(-1), reduction="none")
    return (nll * mask.reshape(-1)).sum() / mask.sum()

  def train_step():
    optimizer.zero_grad(set_to_none=True)
    loss_fn().backward()
    optimizer.step()
    sync()

  def infer_step():
    with torch.inference_mode():
      head(encode())
    sync()

  def outputs():
    with torch.no_grad():
      return host(encode())

  def loss_and_grads():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    grads = {k: host(p.grad).copy() for k, p in module.named_parameters()}
    for k in grads:  # d/d(bias_ih) == d/d(bias_hh) == d/d(our b): count it once
      if k.startswith("bias_hh"):
        grads[k] = np.zeros_like(grads[k])
    head_grads = {"w": host(head.weight.grad).T.copy(), "b": host(head.bias.grad).copy()}
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), {"lstm": interop.from_torch(grads), "head": head_grads}

  how = (f"eager on {device}, torch.set_num_threads({torch.get_num_threads()}); "
         "pack_padded_sequence in the step; torch.optim.Adam")
  return System("torch nn.LSTM", outputs, loss_and_grads, train_step, infer_step, how)


# --- Keras 3 (JAX backend) ----------------------------------------------------------------------


def build_keras(problem: Problem) -> System:
  """Bidirectional(LSTM) per layer + Dense; a jitted stateless train step (Keras' JAX recipe)."""
  os.environ.setdefault("KERAS_BACKEND", "jax")
  import keras  # pylint: disable=import-outside-toplevel
  if keras.backend.backend() != "jax":
    raise RuntimeError(f"keras was imported with the {keras.backend.backend()!r} backend; the "
                       "bench needs KERAS_BACKEND=jax set before the first keras import")
  # Keras' own jax code broadcasts (N, H) with (H,); allow that whatever the process default.
  allow = lambda: jax.numpy_rank_promotion("allow")
  shape = problem.shape
  with allow():
    x_in = keras.Input((shape.steps, shape.features), batch_size=shape.batch)
    mask_in = keras.Input((shape.steps,), dtype="bool", batch_size=shape.batch)
    hidden, bidis = x_in, []
    for _ in range(shape.layers):
      bidis.append(keras.layers.Bidirectional(keras.layers.LSTM(shape.units,
                                                                return_sequences=True)))
      hidden = bidis[-1](hidden, mask=mask_in)
    dense = keras.layers.Dense(shape.classes)
    model = keras.Model([x_in, mask_in], dense(hidden))
    encoder = keras.Model([x_in, mask_in], hidden)
    weights = interop.to_keras(problem.lstm)
    for index, bidi in enumerate(bidis):
      bidi.set_weights(weights[6 * index:6 * index + 6])
    dense.set_weights([problem.head["w"], problem.head["b"]])
    optimizer = keras.optimizers.Adam(learning_rate=problem.learning_rate)
    optimizer.build(model.trainable_variables)
  position = {v.path: i for i, v in enumerate(model.trainable_variables)}

  def loss_fn(trainable, non_trainable, batch):
    logits, non_trainable = model.stateless_call(trainable, non_trainable,
                                                 [batch["x"], batch["mask"] > 0], training=True)
    return masked_xent(logits, batch["labels"], batch["mask"]), non_trainable

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  @functools.partial(jax.jit, donate_argnums=0)
  def train(state, batch):
    trainable, non_trainable, opt_vars = state
    (loss, non_trainable), grads = grad_fn(trainable, non_trainable, batch)
    trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
    return (trainable, non_trainable, opt_vars), loss

  infer = jax.jit(lambda state, batch: model.stateless_call(
      state[0], state[1], [batch["x"], batch["mask"] > 0])[0])
  batch = jax.device_put({"x": problem.x, "labels": problem.labels, "mask": problem.mask})
  values = lambda variables: [jnp.array(v.value) for v in variables]
  holder = {"state": (values(model.trainable_variables), values(model.non_trainable_variables),
                      values(optimizer.variables))}

  def train_step():
    with allow():
      holder["state"], loss = train(holder["state"], batch)
      jax.block_until_ready((holder["state"], loss))

  def infer_step():
    with allow():
      infer(holder["state"], batch).block_until_ready()

  def outputs():
    with allow():
      return np.asarray(encoder([problem.x, problem.mask > 0]))

  def loss_and_grads():
    with allow():
      (loss, _), grads = jax.jit(grad_fn)(holder["state"][0], holder["state"][1], batch)
    pick = lambda variable: np.asarray(grads[position[variable.path]])
    lstm_weights = [pick(v) for bidi in bidis for v in bidi.weights]
    return float(loss), {"lstm": interop.from_keras(lstm_weights),
                         "head": {"w": pick(dense.kernel), "b": pick(dense.bias)}}

  how = ("jax.jit of model.stateless_call + optimizer.stateless_apply (keras Adam), state "
         "donated; mask input")
  return System("keras Bidirectional(LSTM)", outputs, loss_and_grads, train_step, infer_step,
                how)


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
  if options.get("scan_impl", "custom_vjp") not in recurrence.SCANS:
    raise ValueError(f"bad --ours scan_impl {options['scan_impl']!r}; allowed: "
                     + ", ".join(recurrence.SCANS))
  return options

