"""The bench's problem: one BiLSTM tagger step that every system runs on the same numbers.

A stack of bidirectional LSTM layers (concat merge) with a per-token linear head and softmax
cross-entropy averaged over valid tokens, at weights and a batch drawn once (`make_problem`).
A `System` exposes what the bench checks (LSTM outputs, loss and gradients in our params
layout, all at the initial weights) and what it times (one train step = forward + backward +
Adam update; one inference step = forward to the logits).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bilstm_jax.core import lstm


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
