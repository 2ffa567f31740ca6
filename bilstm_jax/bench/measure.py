"""Checking and timing: every system against bilstm_jax first, then round-robin timing and the
matmul rate that sets the floor (bench/cli.py drives them per shape)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from bilstm_jax.bench import systems as systems_lib
from bilstm_jax.bench.systems import Shape

MODES = ("train", "infer")


class MismatchError(RuntimeError):
  """A system's outputs, loss or gradients differ from bilstm_jax's."""


def _max_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0))


@contextlib.contextmanager
def full_float32():
  """Float32 matmuls without TF32 in JAX and (when imported) PyTorch; a no-op on CPU.

  The check runs under it so that a GPU's default TF32 matmuls (JAX, cuDNN) do not blur a real
  mismatch into rounding; the timing runs with each framework's default unless
  --matmul-precision highest."""
  torch = sys.modules.get("torch")
  saved = torch and (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
  if torch:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
  try:
    with jax.default_matmul_precision("highest"):
      yield
  finally:
    if torch:
      torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def check_systems(systems: list[systems_lib.System], mask: np.ndarray) -> dict:
  """Compares every system with the first (bilstm_jax); raises MismatchError listing all diffs."""
  with full_float32():
    return _check_systems(systems, mask)


def _check_systems(systems: list[systems_lib.System], mask: np.ndarray) -> dict:
  valid = mask[:, :, None]
  ref = systems[0]
  ref_out = ref.outputs() * valid
  ref_loss, ref_grads = ref.loss_and_grads()
  report, failures = {}, []
  for system in systems:
    out = system.outputs() * valid  # padded positions hold anything in Flax; compare valid ones
    loss, grads = system.loss_and_grads()
    grad_rel = jax.tree_util.tree_map(
        lambda g, r: _max_diff(g, r) / max(float(np.max(np.abs(r))), 1e-12), grads, ref_grads)
    worst = max(jax.tree_util.tree_leaves(grad_rel))
    entry = {"output_max_abs_diff": _max_diff(out, ref_out), "loss": loss,
             "loss_abs_diff": abs(loss - ref_loss), "grad_max_rel_diff": worst,
             "out_atol": system.out_atol, "grad_rtol": system.grad_rtol}
    entry["passed"] = bool(entry["output_max_abs_diff"] < system.out_atol
                           and entry["loss_abs_diff"] < system.out_atol
                           and worst < system.grad_rtol)
    report[system.name] = entry
    if not entry["passed"]:
      failures.append(f"{system.name}: max |out diff| {entry['output_max_abs_diff']:.3g} "
                      f"(tol {system.out_atol:g}), |loss diff| {entry['loss_abs_diff']:.3g}, "
                      f"max grad rel diff {worst:.3g} (tol {system.grad_rtol:g}); per leaf: "
                      f"{jax.tree_util.tree_map(lambda v: float(f'{v:.2g}'), grad_rel)}")
  if failures:
    raise MismatchError(f"systems disagree with {ref.name}, nothing was timed:\n  "
                        + "\n  ".join(failures))
  return report


def time_round_robin(steps: dict, warmup: int, repeats: int) -> dict[str, list[float]]:
  """Seconds per step: every round runs each system once, the starting system rotating."""
  for step in steps.values():
    for _ in range(warmup):
      step()
  names = list(steps)
  times = {name: [] for name in names}
  for round_index in range(repeats):
    gc.collect()
    shift = round_index % len(names)
    for name in names[shift:] + names[:shift]:
      start = time.perf_counter()
      steps[name]()
      times[name].append(time.perf_counter() - start)
  return times


def matmul_rate(size: int, repeats: int) -> tuple[float, list[float]]:
  """Best FLOP/s of a jitted float32 size x size matmul, and the raw seconds."""
  a, b = jax.random.normal(jax.random.PRNGKey(1), (2, size, size), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  matmul(a, b).block_until_ready()
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, b).block_until_ready()
    seconds.append(time.perf_counter() - start)
  return 2.0 * size ** 3 / min(seconds), seconds


def run_shape(shape: Shape, args, extra_builders: dict | None = None) -> dict:
  """Builds, checks and times every system for one shape; the result as a JSON-ready dict."""
  problem = systems_lib.make_problem(shape, args.lengths, args.seed)
  # bilstm_jax with its defaults is always the first row: the reference of the check and ratios.
  builders = [systems_lib.build_ours]
  builders += [functools.partial(systems_lib.build_ours, **systems_lib.parse_ours(spec))
               for spec in args.ours]
  for name in args.systems:
    if name == "torch":
      builders.append(functools.partial(systems_lib.build_torch, threads=args.torch_threads))
    elif name != "ours":
      builders.append(systems_lib.BUILDERS[name])
  builders += list((extra_builders or {}).values())
  systems = [build(problem) for build in builders]
  names = [s.name for s in systems]
  if len(set(names)) != len(names):
    raise ValueError(f"two rows have the same name: {names}")
  check = check_systems(systems, problem.mask)
  print(f"check passed for {len(systems)} systems (outputs, loss, gradients vs bilstm_jax)",
        flush=True)
  tokens = int(problem.lengths.sum())
  flops = systems_lib.step_flops(shape, tokens)
  times = {}
  with full_float32() if args.matmul_precision == "highest" else contextlib.nullcontext():
    rate, matmul_seconds = matmul_rate(args.matmul_size, args.matmul_repeats)
    for mode in args.modes:
      steps = {s.name: getattr(s, f"{mode}_step") for s in systems}
      times[mode] = time_round_robin(steps, args.warmup, args.repeats)
      print(f"timed {mode}", flush=True)
    rate_after, seconds_after = matmul_rate(args.matmul_size, args.matmul_repeats)
  rate = max(rate, rate_after)
  return {
      "shape": dataclasses.asdict(shape), "lengths": args.lengths, "tokens": tokens,
      "lengths_B": problem.lengths.tolist(), "flops": flops,
      "matmul": {"size": args.matmul_size, "best_gflops": rate / 1e9,
                 "seconds": matmul_seconds + seconds_after},
      "floor_ms": {mode: 1e3 * flops[mode] / rate for mode in MODES},
      "check": check, "how": {s.name: s.how for s in systems},
      "warmup": args.warmup, "repeats": args.repeats, "matmul_precision": args.matmul_precision,
      "times_ms": {mode: {name: [1e3 * t for t in ts] for name, ts in by_name.items()}
                   for mode, by_name in times.items()},
      "median_ms": {mode: {name: 1e3 * statistics.median(ts) for name, ts in by_name.items()}
                    for mode, by_name in times.items()},
  }
