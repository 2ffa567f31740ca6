"""The bench's PyTorch and Keras 3 systems, built from a `bench_problem.Problem`.

Both get the problem's weights through `interop`; torch and keras are imported only inside
their builders, so the package never needs them.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from bilstm_jax import interop
from bilstm_jax.bench.problem import Problem, System, masked_xent

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
