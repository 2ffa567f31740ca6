"""Data parallelism over every device of every process: one mesh axis, 'data', over the batch."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def initialize_distributed() -> None:
  """Joins the multi-process job when launched as several SLURM tasks (srun -n N).

  jax.distributed reads the coordinator address, process count and id from the SLURM
  environment. Without an accelerator the CPU backend needs gloo for cross-process
  collectives.
  """
  if int(os.environ.get("SLURM_NTASKS", "1")) <= 1 or jax.distributed.is_initialized():
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize()


def make_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def place(tree, sharding):
  """Host values (the same on every process) placed with `sharding`; each process hands over
  the pieces of its own devices."""
  return jax.tree_util.tree_map(
      lambda x: jax.make_array_from_callback(np.shape(x), sharding,
                                             lambda index, x=np.asarray(x): x[index]), tree)


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Places a global batch (identical on every process) split over the 'data' axis.

  Each process hands over only the rows of its own devices; the global batch size must be a
  multiple of the device count (TrainStream and eval_batches round it up with masked rows).
  """
  sharding = NamedSharding(mesh, PartitionSpec("data"))
  num_procs, proc = jax.process_count(), jax.process_index()
  if num_procs == 1:
    return jax.device_put(batch, sharding)  # same placement, less host work per step

  def place(x):
    rows = x.shape[0] // num_procs
    local = x[proc * rows:(proc + 1) * rows]
    return jax.make_array_from_process_local_data(sharding, local, x.shape)

  return {k: place(v) for k, v in batch.items()}
