"""`bilstm-bench`: time bilstm_jax against Flax, PyTorch and Keras BiLSTMs on one tagging step.

  bilstm-bench                                   # default shape, every importable system
  bilstm-bench --shape default,small,long,deep --out bench.json
  bilstm-bench --ours scan_impl=autodiff --ours unroll=2 --systems ours,flax_optimized
  bilstm-bench --quick                           # tiny shapes, few repeats (CI smoke)
  bilstm-bench --heads                           # the tagger: softmax vs CRF head, train and decode
  bilstm-bench --pipeline "configs/ud_pos.py data.source_dir=<data>/ud_english_ewt"
                                                 # input pipeline: fed vs preloaded steps/s

Order of work per shape: build every system from the same weights, CHECK them against
bilstm_jax (LSTM outputs at valid tokens, loss, and gradients of every weight), and only then
time. A mismatch ends the bench with exit status 1 before anything is timed. Timing: warm-up
steps (compilation) excluded, then `--repeats` rounds, each running one step of every system in
turn (the starting system rotates), so machine load hits all systems alike; the table gives
medians. The floor is the step's matmul FLOPs over valid tokens (train = 3x forward) divided by
the best rate of a jitted float32 NxN matmul.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys

from bilstm_jax import config as config_lib
from bilstm_jax import files, provenance
from bilstm_jax.bench import systems as systems_lib
from bilstm_jax.bench.measure import MODES, MismatchError, run_shape
from bilstm_jax.bench.report import format_table
from bilstm_jax.bench.systems import Shape
from bilstm_jax.config import ConfigError
from bilstm_jax.training import host_memory

SHAPES = {
    "default": Shape(batch=64, steps=128, features=128, units=256),
    "small": Shape(batch=32, steps=64, features=128, units=128),
    "long": Shape(batch=64, steps=512, features=128, units=256),
    "deep": Shape(batch=64, steps=128, features=128, units=256, layers=2),
    "quick": Shape(batch=4, steps=8, features=8, units=16, classes=5),
}
def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="bilstm-bench", description=__doc__.split("\n", 1)[0],
      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
  parser.add_argument("--shape", default="default",
                      help=f"comma list of {', '.join(SHAPES)} (default: default)")
  for field, flag in (("batch", "--batch"), ("steps", "--steps"), ("features", "--features"),
                      ("units", "--units"), ("layers", "--layers"), ("classes", "--classes")):
    parser.add_argument(flag, type=int, dest=field, help=f"override {field} of every shape")
  parser.add_argument("--lengths", choices=("full", "random"), default="full",
                      help="full: every sequence T long (default); random: uniform in [T/2, T]")
  parser.add_argument("--systems", default=None,
                      help="comma list of " + ", ".join(systems_lib.BUILDERS)
                      + " (default: all; torch/keras only where importable); bilstm_jax is "
                      "always the first row")
  parser.add_argument("--ours", action="append", default=[], metavar="KEY=V,...",
                      help="an extra bilstm_jax row with these options (repeatable): "
                      + ", ".join(systems_lib.OURS_OPTIONS))
  parser.add_argument("--torch-threads", type=int, default=None,
                      help="torch.set_num_threads (default: the number of cores)")
  parser.add_argument("--modes", default="train,infer", help="comma list of train, infer")
  parser.add_argument("--repeats", type=int, default=15, help="round-robin rounds")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps per system")
  parser.add_argument("--matmul-size", type=int, default=2048)
  parser.add_argument("--matmul-precision", choices=("default", "highest"), default="default",
                      help="timing (and floor) precision: each framework's default (on GPUs "
                      "TF32 for JAX matmuls and cuDNN), or full float32 everywhere; the "
                      "check always runs in full float32")
  parser.add_argument("--matmul-repeats", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--quick", action="store_true",
                      help="tiny shape, 1 warm-up, 3 rounds, 512^2 matmul (CI smoke)")
  parser.add_argument("--out", default=None, help="write the results JSON here")
  parser.add_argument("--malloc", choices=("retain", "default"), default="retain",
                      help="retain (as bilstm-train): glibc keeps freed memory for reuse, so "
                      "XLA's and PyTorch's per-step temps stop page-faulting (host_memory.py); "
                      "applies to every system in this process alike")
  parser.add_argument("--pipeline", action="append", default=[], metavar='"CONFIG KEY=V ..."',
                      help="instead of the shapes: time the trainer fed by this task's input "
                      "pipeline against the same batches preloaded (repeatable); a config "
                      "path[:arg] then dotted overrides, space-separated")
  parser.add_argument("--heads", action="store_true",
                      help="instead of the systems: the tagger's softmax and CRF heads, one "
                      "training step and the evaluation's decoding each, at every --shape")
  parser.add_argument("--pipeline-steps", type=int, default=200,
                      help="training steps per pipeline measurement")
  args = parser.parse_args(argv)
  if args.quick:
    args.shape, args.warmup, args.repeats = "quick", 1, 3
    args.matmul_size, args.matmul_repeats = 512, 3
  args.shapes = [s.strip() for s in args.shape.split(",") if s.strip()]
  bad = [s for s in args.shapes if s not in SHAPES]
  args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
  bad_modes = [m for m in args.modes if m not in MODES]
  if bad or bad_modes or not args.modes:
    parser.error(f"unknown shape(s) {bad} or mode(s) {bad_modes}")
  if args.systems is None:
    args.systems = [s for s in systems_lib.BUILDERS if systems_lib.is_available(s)]
  else:
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in systems_lib.BUILDERS]
    if unknown:
      parser.error(f"unknown system(s) {unknown}; allowed: {', '.join(systems_lib.BUILDERS)}")
  for spec in args.ours:
    try:
      systems_lib.parse_ours(spec)
    except ValueError as err:
      parser.error(str(err))
  return args


def _pipeline_config(spec: str):
  """'configs/ud_pos.py data.source_dir=DIR' -> the locked config with the overrides."""
  path, *items = shlex.split(spec)
  config = config_lib.load_config(path)
  config_lib.apply_overrides(
      config, dict(config_lib.parse_override(config, item) for item in items))
  return config


def bench_pipelines(args: argparse.Namespace, report: dict) -> None:
  from bilstm_jax.bench import pipeline as bench_pipeline  # pylint: disable=import-outside-toplevel
  lines = [bench_pipeline.TABLE_HEADER]
  for spec in args.pipeline:
    print(f"\n== pipeline: {spec}", flush=True)
    result = bench_pipeline.measure(_pipeline_config(spec), args.pipeline_steps,
                                    max(1, min(args.repeats, 5)))
    report["pipelines"].append({"spec": spec, **result})
    lines.append(bench_pipeline.format_result(spec, result))
    print("\n".join(lines), flush=True)


def bench(args: argparse.Namespace, extra_builders: dict | None = None) -> dict:
  """Runs every requested shape; prints the tables; writes args.out. Raises MismatchError."""
  report = {**provenance.provenance(), "argv": sys.argv,
            "load_avg_start": os.getloadavg(), "runs": [], "pipelines": [],
            "malloc": {"requested": args.malloc,
                       "applied": bool(getattr(args, "malloc_applied", False)),
                       "default_faults_per_call": getattr(args, "default_faults", None)}}
  if args.pipeline:
    bench_pipelines(args, report)
  overrides = {k: getattr(args, k) for k in ("batch", "steps", "features", "units", "layers",
                                             "classes") if getattr(args, k, None) is not None}
  for shape_name in ([] if args.pipeline else args.shapes):
    shape = dataclasses.replace(SHAPES[shape_name], **overrides)
    print(f"\n== {shape_name}: {shape}", flush=True)
    if args.heads:
      from bilstm_jax.bench import heads  # pylint: disable=import-outside-toplevel  (flax)
      result = {"name": shape_name, "heads": heads.compare(shape, args.warmup, args.repeats,
                                                           args.seed)}
      table = heads.format_result(result["heads"])
    else:
      result = {"name": shape_name, **run_shape(shape, args, extra_builders)}
      table = format_table(result)
    report["runs"].append(result)
    print("\n" + table, flush=True)
    _write(report, args.out)  # each finished shape survives a later one's timeout
  report["load_avg_end"] = os.getloadavg()
  print(f"\nload average (1/5/15 min) at start {report['load_avg_start']}, at end "
        f"{report['load_avg_end']}; {report['machine']['cpu']}, "
        f"{report['machine']['cpu_count']} cores", flush=True)
  _write(report, args.out)
  if args.out:
    print(f"wrote {args.out}")
  return report


def _write(report: dict, path: str | None) -> None:
  if path:
    files.atomic_write_text(path, json.dumps(report, indent=1))


def main(argv=None) -> int:
  args = parse_args(argv)
  # Before the first JAX computation (host_memory.py says why); on CPU runs only.
  args.malloc_applied = args.malloc == "retain" and host_memory.retain_freed_memory()
  if args.malloc_applied:  # what the setting saves on this host: the default allocator's faults
    args.default_faults = host_memory.faults_per_call("default")
    print(f"malloc: retain; with the default allocator a 64 MiB XLA temp costs "
          f"{args.default_faults} page faults per call on this host", flush=True)
  try:
    bench(args)
  except MismatchError as err:
    print(f"bilstm-bench: FAILED: {err}", file=sys.stderr)
    return 1
  except ConfigError as err:
    print(f"bilstm-bench: {err}", file=sys.stderr)
    return 2
  return 0


def run() -> None:
  sys.exit(main())


if __name__ == "__main__":
  run()
