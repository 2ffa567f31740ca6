"""What a run holds: the train state on the devices and its bookkeeping (RunState) beside it."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax.training import train_state

from bilstm_jax.training import parallel


class TrainState(train_state.TrainState):
  """flax's TrainState plus an optional exponential moving average of the parameters.

  `ema_params` is None unless `optim.ema_decay` > 0; it is checkpointed with the rest, so a
  resumed run continues the same average.
  """
  ema_params: Any = flax.struct.field(pytree_node=True, default=None)


def eval_params(state: TrainState):
  """The parameters validation, test and the best checkpoint are judged by."""
  return state.params if state.ema_params is None else state.ema_params


def create_train_state(model, tx, rng, batch, *, ema: bool = False) -> TrainState:
  variables = model.init({"params": rng}, batch["inputs"], batch["lengths"], train=False)
  params = variables["params"]
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                           ema_params=jax.tree_util.tree_map(jnp.copy, params) if ema else None)


def init_example(batch) -> dict[str, np.ndarray]:
  """One row and one step of `batch`: parameter shapes depend on neither, and the batch's rows
  are rounded up to the device count, which must not reach the initialisation."""
  inputs = np.asarray(batch["inputs"])[:1, :1]
  return {"inputs": inputs, "lengths": np.ones((1,), np.int32)}


def init_train_state(model, tx, rng, batch, sharding, *, jitted: bool = True,
                     ema: bool = False) -> TrainState:
  """create_train_state computed on one device, then placed with `sharding` (every process
  holds the same global state).

  One device and a one-row example, whatever the mesh: the same seed gives the same bits on
  1 or N devices. (Compiled for a replicated N-device output, XLA:CPU hangs initialising a
  2-layer model on 2 devices.) jitted=False initialises op by op, for models with more than
  one Bi-LSTM core (a character encoder): XLA:CPU (jax 0.10.2) deadlocks running one program
  that holds two of `lstm.init_params`' orthogonal QRs at some sizes (e.g. 256 and 64 units;
  128 and 64 runs), and a hung init never errors. Op by op, each QR is a program of its own.
  The two paths draw different bits (XLA fuses the jitted initialisers differently), so a run
  keeps the path its config implies (see models.num_cores).
  """
  example = init_example(batch)
  if jitted:
    state = jax.jit(lambda r: create_train_state(model, tx, r, example, ema=ema))(rng)
  else:
    state = create_train_state(model, tx, rng, example, ema=ema)
  return parallel.place(jax.device_get(state), sharding)


def params_sha256(params) -> str:
  """Fingerprint of the parameters' bytes, in a fixed leaf order with paths, dtypes and shapes."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape};".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else True


def params_finite(state: TrainState) -> bool:
  """Whether the parameters (and their average) are all finite: one reduction on the devices,
  one bool to the host."""
  return bool(_all_finite((state.params, state.ema_params)))


@dataclasses.dataclass
class LogWindow:
  """The steps since the last log line: their train metric sums (host copies, filled when the
  window is saved), step count, tokens and training seconds (evaluations and saves excluded)."""
  sums: dict[str, float] = dataclasses.field(default_factory=dict)
  steps: int = 0
  tokens: int = 0
  seconds: float = 0.0


@dataclasses.dataclass
class RunState:
  """A run's bookkeeping beside the train state, saved as each checkpoint's JSON metadata.

  epoch and batch_index: the data position of the checkpoint's step (a relaunch refuses data
  that puts that step elsewhere). train_time_s: wall time in the train loop over all launches
  (evaluations and saves included; set-up, compilation before the first step and the final
  evaluation not). window: a log window cut by a save, continued on resume (None: empty).
  """
  best_metric: float | None = None
  best_step: int | None = None
  epoch: int | None = None
  batch_index: int | None = None
  train_time_s: float = 0.0
  train_tokens: int = 0
  window: LogWindow | None = None

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, meta: dict) -> RunState:
    """From to_dict's output, or the plain dict checkpoints held before RunState existed (the
    same keys, no window)."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = set(meta) - known
    if unknown:
      raise ValueError(f"checkpoint metadata has keys this code does not know: {sorted(unknown)}")
    values = dict(meta)
    if values.get("window") is not None:
      values["window"] = LogWindow(**values["window"])
    return cls(**values)
