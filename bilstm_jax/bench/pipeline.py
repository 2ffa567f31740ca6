"""Does the input pipeline keep the trainer fed? `bilstm-bench --pipeline CONFIG`.

Runs the trainer's own pieces (`train.make_stream`, `train.host_batch`, `train.train_step`,
`parallel.shard_batch`) on a task's real data, two ways over the same steps:
  * fed: each step's batch is built on the host while the previous step runs on the device,
    exactly as in `train_and_evaluate` (batching, padding, word dropout, sharding);
  * preloaded: the same batches built and placed on the device before the clock starts.
The ratio fed/preloaded steps per second says how much the pipeline costs (1.0: nothing).
Every compiled shape is warmed up first, and the two ways alternate, so load hits both alike.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from bilstm_jax import data, models
from bilstm_jax.training import optimizer, parallel, train


def _run(state, batches_or_fn, num_steps, p_train_step, rng, sync_every) -> float:
  """Seconds for num_steps; a callable builds each batch on the host, a list is preloaded."""
  start = time.perf_counter()
  pending = []
  for step in range(num_steps):
    batch = batches_or_fn(step) if callable(batches_or_fn) else batches_or_fn[step]
    state, step_metrics = p_train_step(state, batch, rng)
    pending.append(step_metrics)
    if len(pending) == sync_every:  # the trainer looks at metrics every log step
      jax.device_get(pending)
      pending = []
  jax.block_until_ready((state, pending))
  return time.perf_counter() - start


def measure(config, num_steps: int, repeats: int = 3) -> dict:
  """Steps/s fed by the pipeline and preloaded, over the first num_steps training steps."""
  splits, info = data.get_datasets(config.data, None)
  mesh = parallel.make_mesh()
  stream = train.make_stream(config, splits["train"])
  model = models.build_model(config.model, info)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  state = train.init_train_state(model, tx, init_rng, stream.batch(0), parallel.replicated(mesh),
                                 jitted=models.num_cores(config.model) == 1)
  p_train_step = jax.jit(lambda s, b, r: train.train_step(s, b, r, schedule))

  def fed(step):
    batch = train.host_batch(stream, step, config.data, config.seed, info)
    return parallel.shard_batch(batch, mesh)

  preloaded = [fed(step) for step in range(num_steps)]
  # Warm-up: compile every shape these steps use (not timed).
  first_of_shape = {}
  for batch in preloaded:
    first_of_shape.setdefault(batch["inputs"].shape, batch)
  for batch in first_of_shape.values():
    jax.block_until_ready(p_train_step(state, batch, dropout_rng))

  times = {"fed": [], "preloaded": []}
  sync_every = max(1, min(config.log_every_steps, num_steps))
  for round_index in range(repeats):
    order = ("fed", "preloaded") if round_index % 2 == 0 else ("preloaded", "fed")
    for way in order:
      source = fed if way == "fed" else preloaded
      times[way].append(_run(state, source, num_steps, p_train_step, dropout_rng, sync_every))
  epoch_steps = len(stream.epoch_steps(0))
  fed_sps = num_steps / float(np.median(times["fed"]))
  pre_sps = num_steps / float(np.median(times["preloaded"]))
  return {
      "steps": num_steps,
      "repeats": repeats,
      "fed_steps_per_s": fed_sps,
      "preloaded_steps_per_s": pre_sps,
      "fed_over_preloaded": fed_sps / pre_sps,
      "padding_fraction_epoch0": stream.padding_fraction(0),
      "epoch_steps": epoch_steps,
      "shapes_compiled": len(first_of_shape),
      "shapes_possible": len(stream.shapes()),
      "train_examples": len(splits["train"]),
      "seconds": times,
  }


def format_result(spec: str, result: dict) -> str:
  return (f"| {spec} | {result['padding_fraction_epoch0']:.1%} | {result['shapes_compiled']}"
          f"/{result['shapes_possible']} | {result['fed_steps_per_s']:.2f} | "
          f"{result['preloaded_steps_per_s']:.2f} | {result['fed_over_preloaded']:.3f} |")


TABLE_HEADER = ("| pipeline (config, overrides) | padding, epoch 0 | shapes used/possible | "
                "fed steps/s | preloaded steps/s | fed / preloaded |\n|---|---:|---:|---:|---:|---:|")
