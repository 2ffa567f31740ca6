"""The report of experiments/gpu_trainer.sh: bilstm-train against the PyTorch loop, one folder.

  python -m bilstm_jax.bench.trainer_report OUT_DIR [--dry-run]

Reads what the script left in OUT_DIR and writes OUT_DIR/report.json and report.md:
  train/<task>/       bilstm-train run directories (results.json, metrics.jsonl)
  torch/<task>.json   bench/torch_trainer.py on the same config and batches
  sweeps/quickstart/  the quickstart sweep's runs; tables/quickstart.md its table
  steps.tsv           name, exit status and seconds of every step; commands.sh what ran
Both sides are measured the same two ways. Whole: every step from step 0 over the loop's wall
time (compilation, warm-up and the host syncs at log steps included; data loading, the final
evaluation and saves excluded), which is results.json's wall_time_s and train_tokens_per_s.
Steady: the median over log windows after the first of each window's valid tokens per second
(perf/tokens_per_s in metrics.jsonl); the batches, hence the windows' tokens, are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess

from bilstm_jax import files

TASKS = {  # report key -> what the row says
    "ud_pos": "UD EWT POS tagging (configs/ud_pos.py)",
    "fsdd": "FSDD spoken digits (configs/fsdd.py)",
    "synthetic": "synthetic tagging, the quickstart's model (configs/synthetic.py)",
}
SWEEP = "quickstart"
ENV = ("XLA_FLAGS", "JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE", "JAX_COMPILATION_CACHE_DIR",
       "CUDA_VISIBLE_DEVICES")


def _read_json(path: str):
  text = _read_text(path)
  return None if text is None else json.loads(text)


def _read_text(path: str) -> str | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return f.read()


def steady(rates: list[float]) -> float | None:
  """Median tokens/s of the log windows after the first (which holds compilation, warm-up)."""
  return statistics.median(rates[1:]) if len(rates) > 1 else None


def read_trainer_run(workdir: str) -> dict | None:
  """A bilstm-train run's figures from results.json and metrics.jsonl; None if unfinished."""
  results = _read_json(os.path.join(workdir, "results.json"))
  if results is None:
    return None
  rates = []
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(metrics_path):
    with open(metrics_path) as f:
      records = [json.loads(line) for line in f if line.strip()]
    rates = [r["perf/tokens_per_s"] for r in records if "perf/tokens_per_s" in r]
  machine = results.get("machine", {})
  wall, steps = results["wall_time_s"], results["final_step"]
  return {"system": "bilstm-train", "device": f"{machine.get('backend')}: "
                                              f"{machine.get('devices')}",
          "steps": steps, "wall_s": wall, "steps_per_s": steps / max(wall, 1e-9),
          "tokens_per_s": results["train_tokens_per_s"], "steady_tokens_per_s": steady(rates),
          "window_tokens_per_s": rates, "command": results.get("command"),
          "startup_s": results.get("startup_s"),  # process start to first step, where recorded
          "test": {k: v for k, v in results.items() if k.startswith("test/")}}


def read_torch_run(path: str) -> dict | None:
  """bench/torch_trainer.py's JSON, in the same fields as read_trainer_run."""
  result = _read_json(path)
  if result is None:
    return None
  whole = result["whole"]
  return {"system": "PyTorch loop", "device": f"{result['device']}: {result['device_name']}",
          "steps": result["steps"], "wall_s": whole["wall_s"],
          "steps_per_s": whole["steps_per_s"], "tokens_per_s": whole["tokens_per_s"],
          "steady_tokens_per_s": steady([w["tokens_per_s"] for w in result["windows"]]),
          "after_untimed": {k: result[k] for k in ("untimed_steps", "timed_steps", "wall_s",
                                                   "steps_per_s", "tokens_per_s")},
          "command": result.get("command"), "how": result.get("how")}


def sweep_runs(sweep_dir: str) -> list[dict]:
  """Every quickstart run directory (one with a config.json) and its figures (none: unfinished)."""
  root = os.path.join(sweep_dir, SWEEP)
  names = sorted(os.listdir(root)) if os.path.isdir(root) else []
  return [{"name": name, **(read_trainer_run(os.path.join(root, name)) or {})} for name in names
          if os.path.exists(os.path.join(root, name, "config.json"))]


def _ratio(ours: dict | None, torch: dict | None, key: str) -> float | None:
  if not ours or not torch or not ours.get(key) or not torch.get(key):
    return None
  return ours[key] / torch[key]


def facts() -> dict:
  """nvidia-smi (when there is one), jax.devices() and the machine, as the report saw them."""
  from bilstm_jax import provenance  # pylint: disable=import-outside-toplevel
  smi = None
  if shutil.which("nvidia-smi"):
    done = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60,
                          check=False)
    smi = done.stdout if done.returncode == 0 else f"nvidia-smi failed: {done.stderr.strip()}"
  import jax  # pylint: disable=import-outside-toplevel
  return {"nvidia_smi": smi, "jax_devices": [str(d) for d in jax.devices()],
          "machine": provenance.machine(), "git": provenance.git_commit(),
          "env": {k: os.environ[k] for k in ENV if k in os.environ}}


def _steps(out_dir: str) -> list[dict]:
  path = os.path.join(out_dir, "steps.tsv")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
  return [{"name": name, "rc": int(rc), "seconds": float(seconds)} for name, rc, seconds in rows]


def assemble(out_dir: str, dry_run: bool = False, machine_facts: dict | None = None) -> dict:
  """The report as a dict: per task both systems and their ratios, the sweep, steps, commands."""
  tasks = []
  for task, title in TASKS.items():
    ours = read_trainer_run(os.path.join(out_dir, "train", task))
    torch = read_torch_run(os.path.join(out_dir, "torch", f"{task}.json"))
    tasks.append({"task": task, "title": title, "ours": ours, "torch": torch,
                  "ratio_whole": _ratio(ours, torch, "tokens_per_s"),
                  "ratio_steady": _ratio(ours, torch, "steady_tokens_per_s")})
  steps = _steps(out_dir)
  commands = (_read_text(os.path.join(out_dir, "commands.sh")) or "").splitlines()
  return {"dry_run": dry_run, "tasks": tasks,
          "sweep": {"runs": sweep_runs(os.path.join(out_dir, "sweeps")),
                    "wall_s": sum(s["seconds"] for s in steps if s["name"].startswith("sweep")),
                    "table": _read_text(os.path.join(out_dir, "tables", f"{SWEEP}.md"))},
          "steps": steps, "commands": commands,
          "facts": machine_facts if machine_facts is not None else facts()}


DRY_RUN = ("**Dry run**: CPU, `:smoke` configs and a few steps; it checks the flow, its numbers "
           "measure nothing.")
HEADER = ("| system | task | device | steps | wall s | steps/s | tokens/s | steady tokens/s | "
          "ours / torch (whole) | ours / torch (steady) |")
DEFINITIONS = (
    "Tokens are valid tokens (speech: frames), sum(lengths) per step, on the same batches for "
    "both systems. Whole: every step from step 0 over the loop's wall time (compilation and "
    "warm-up included; data loading and the final evaluation not). Steady: the median over the "
    "log windows after the first of each window's tokens/s. Ratios above 1: bilstm-train is "
    "faster. Each run had the device to itself and evaluated once, after its last step. The "
    "PyTorch loop's figures without its first steps are in report.json (`after_untimed`).")


def _num(value, digits: int = 3) -> str:
  if value is None:
    return "n/a"
  return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def format_markdown(report: dict) -> str:
  lines = ["# The whole trainer against a plain PyTorch loop", ""]
  if report["dry_run"]:
    lines += [DRY_RUN, ""]
  lines += [HEADER, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
  for entry in report["tasks"]:
    for side in ("ours", "torch"):
      run = entry[side]
      if run is None:
        lines.append(f"| {'bilstm-train' if side == 'ours' else 'PyTorch loop'} | "
                     f"{entry['title']} | | | | | | | | not run or unfinished |")
        continue
      ratios = (f"{_num(entry['ratio_whole'])} | {_num(entry['ratio_steady'])}"
                if side == "ours" else "1 | 1")
      lines.append(f"| {run['system']} | {entry['title']} | {run['device']} | {run['steps']} | "
                   f"{_num(run['wall_s'])} | {_num(run['steps_per_s'])} | "
                   f"{_num(run['tokens_per_s'])} | {_num(run['steady_tokens_per_s'])} | "
                   f"{ratios} |")
  lines += ["", DEFINITIONS, "", "## The quickstart sweep", "",
            f"`bilstm-sweep run` and `table` took {_num(report['sweep']['wall_s'])} s in all.",
            "", "| run | steps | wall s | steps/s | tokens/s | test accuracy |",
            "|---|---:|---:|---:|---:|---:|"]
  for run in report["sweep"]["runs"]:
    if "steps" not in run:
      lines.append(f"| {run['name']} | unfinished | | | | |")
      continue
    lines.append(f"| {run['name']} | {run['steps']} | {_num(run['wall_s'])} | "
                 f"{_num(run['steps_per_s'])} | {_num(run['tokens_per_s'])} | "
                 f"{_num(run['test'].get('test/accuracy'), 4)} |")
  if report["sweep"]["table"]:  # its title one level under this section's
    lines += [""] + [("###" + line[1:] if line.startswith("# ") else line)
                     for line in report["sweep"]["table"].strip().splitlines()]
  lines += ["", "## Steps", "", "| step | exit | seconds |", "|---|---:|---:|"]
  lines += [f"| {s['name']} | {s['rc']} | {s['seconds']:.0f} |" for s in report["steps"]]
  machine = report["facts"]
  lines += ["", "## Commands", "", "```", *report["commands"], "```", "", "## Machine", "",
            f"jax.devices(): {', '.join(machine.get('jax_devices', []))}", "",
            f"environment: {machine.get('env', {})}", "", "```",
            (machine.get("nvidia_smi") or "nvidia-smi: not found on this machine").strip(),
            "```", ""]
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m bilstm_jax.bench.trainer_report",
                                   description=__doc__.split("\n", 1)[0])
  parser.add_argument("out_dir")
  parser.add_argument("--dry-run", action="store_true", help="mark the report as a dry run")
  args = parser.parse_args(argv)
  report = assemble(args.out_dir, args.dry_run)
  files.atomic_write_text(os.path.join(args.out_dir, "report.json"), json.dumps(report, indent=1))
  text = format_markdown(report)
  files.atomic_write_text(os.path.join(args.out_dir, "report.md"), text)
  print(text)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
