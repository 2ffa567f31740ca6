"""`bilstm-sweep`: run a sweep's rows here or as one SLURM job array, and build its table.

  bilstm-sweep run experiments/quickstart.py --backend local --workers 2
  bilstm-sweep run experiments/quickstart.py --backend slurm --max-parallel 8 [--dry-run]
  bilstm-sweep table experiments/quickstart.py
  bilstm-sweep row runs/quickstart/sweep.jsonl 3     # one row; what slurm/array.sbatch runs

Run directories are <sweep-dir>/<sweep>/<run name>; <sweep-dir>/<sweep>/sweep.jsonl lists the
rows. A row with results.json is finished and never runs again; an unfinished one resumes from
its checkpoint. A lock file per run directory keeps two launchers from running one row at once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

from bilstm_jax import config as config_lib
from bilstm_jax.config import ConfigError
from bilstm_jax.sweeps import files as sweep_files
from bilstm_jax.sweeps import plan
from bilstm_jax.sweeps import rows as sweep_rows
from bilstm_jax.sweeps import spec as sweep_lib
from bilstm_jax.training import preemption

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo
ARRAY_SCRIPT = os.path.join(ROOT, "slurm", "array.sbatch")


# --- Local backend --------------------------------------------------------------------------

class LocalRunner:
  """Runs rows as `bilstm-sweep row` subprocesses, N at a time; Ctrl-C stops them cleanly."""

  def __init__(self, manifest: str, workers: int):
    self.manifest = manifest
    self.workers = workers
    self.procs: dict[int, subprocess.Popen] = {}
    self.stopping = threading.Event()
    self.lock = threading.Lock()

  def run_one(self, run: plan.Run) -> tuple[str, float]:
    if self.stopping.is_set():
      return "not started", 0.0
    start = time.time()
    # Own session: a Ctrl-C reaches only this launcher, which then asks each trainer to
    # checkpoint (SIGTERM) instead of killing it mid-step.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilstm_jax.sweeps.cli", "row", self.manifest, str(run.index)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    with self.lock:
      self.procs[run.index] = proc
    _, err = proc.communicate()
    with self.lock:
      del self.procs[run.index]
    elapsed = time.time() - start
    rc = proc.returncode
    if rc != sweep_rows.EXIT_LOCKED:
      sweep_rows.record_exit(run.workdir, rc)
    if rc == 0:
      return ("done" if plan.is_finished(run) else "no results.json"), elapsed
    if rc == sweep_rows.EXIT_LOCKED:
      return "skipped: running in another launcher", elapsed
    if rc == preemption.EXIT_PREEMPTED:
      return "stopped with a checkpoint (re-run to resume)", elapsed
    detail = f"; {err.strip().splitlines()[-1]}" if err.strip() else ""
    return (f"FAILED (exit {rc}); log: {os.path.join(run.workdir, sweep_rows.LOG_FILE)}{detail}",
            elapsed)

  def stop_all(self) -> None:
    """First call: SIGTERM (checkpoint at the next step, exit 75); a second call: SIGKILL."""
    sig = signal.SIGKILL if self.stopping.is_set() else signal.SIGTERM
    self.stopping.set()
    with self.lock:
      for proc in self.procs.values():
        try:
          proc.send_signal(sig)
        except ProcessLookupError:
          pass

  def run(self, runs: list[plan.Run]) -> bool:
    """True when every row ran to results.json."""
    # Ctrl-C, and a TERM/HUP to this launcher (e.g. `timeout`, a closed terminal), stop the
    # rows cleanly: they run in their own sessions and would otherwise outlive the launcher.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
      signal.signal(signum, _raise_interrupt)
    ok = True
    with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
      futures = {pool.submit(self.run_one, run): run for run in runs}
      pending = set(futures)
      done_count = 0
      while pending:
        try:
          finished, pending = concurrent.futures.wait(
              pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
          for future in finished:
            run = futures[future]
            status, elapsed = future.result()
            done_count += 1
            ok &= status == "done"
            print(f"[{done_count}/{len(runs)}] {run.run_name}: {status} ({elapsed:.0f} s)",
                  flush=True)
        except KeyboardInterrupt:
          print("interrupted: running rows checkpoint and stop (Ctrl-C again kills them)",
                flush=True)
          self.stop_all()
    return ok


def _raise_interrupt(signum, frame):  # pylint: disable=unused-argument
  raise KeyboardInterrupt


# --- SLURM backend --------------------------------------------------------------------------

def sbatch_command(args, manifest: str, indices: list[int], name: str) -> list[str]:
  out_dir = os.path.join(args.sweep_dir, name, "slurm")
  array = plan.compress_indices(indices)
  if args.max_parallel:
    array += f"%{args.max_parallel}"
  command = [
      "sbatch", "--parsable", f"--array={array}", f"--job-name=bilstm-{name}",
      f"--chdir={os.getcwd()}", f"--output={out_dir}/%A_%a.out", "--open-mode=append",
      f"--signal=B:USR1@{args.signal_seconds}", "--requeue",
      f"--time={args.time}", f"--cpus-per-task={args.cpus_per_task}", f"--mem={args.mem}",
      f"--export=ALL,BILSTM_PYTHON={sys.executable}"]
  if args.partition:
    command.append(f"--partition={args.partition}")
  if args.gpus:
    command.append(f"--gpus={args.gpus}")
  command += list(args.sbatch_arg or [])
  return command + [args.array_script, manifest]


def queued_jobs(job_name: str) -> list[str]:
  """Job ids of this user's queued or running jobs with this name ([] if squeue fails)."""
  try:
    out = subprocess.run(["squeue", "--me", "-h", "-n", job_name, "-o", "%i"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
  except (OSError, subprocess.SubprocessError):
    return []
  return out.split()


# --- Commands -------------------------------------------------------------------------------

def _load(args):
  name, spec = sweep_files.load(args.sweep_file)
  if args.set:
    base = config_lib.load_config(spec.config)
    spec = sweep_lib.with_settings(
        spec, dict(config_lib.parse_override(base, item) for item in args.set))
  return name, spec, plan.expand(spec, name, args.sweep_dir)


def _set_args(args) -> list[str]:
  """The command's --set KEY=VALUE items again, for the commands it prints and records."""
  return [part for item in args.set for part in ("--set", item)]


def _table_command(args) -> str:
  return shlex.join(["bilstm-sweep", "table", args.sweep_file, *_set_args(args)])


def cmd_run(args) -> int:
  name, _, every = _load(args)
  runs = plan.to_run(every)  # the manifest: a row that repeats another's model never runs
  root = os.path.join(args.sweep_dir, name)
  manifest = os.path.join(root, plan.MANIFEST)
  todo = plan.unfinished(runs)
  repeats = len(every) - len(runs)
  same = f", {repeats} the same model as another row (not run)" if repeats else ""
  print(f"sweep {name}: {len(every)} rows, {len(runs) - len(todo)} finished, {len(todo)} to run"
        f"{same} ({args.backend}); manifest {manifest}")
  if args.backend == "slurm":
    # The array reads an immutable snapshot named by its content, so editing the sweep file
    # while tasks are pending can never shift which row a pending task runs.
    text = plan.manifest_text(runs)
    snapshot = os.path.join(root, "slurm", f"sweep-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
                            ".jsonl")
    command = sbatch_command(args, snapshot, [run.index for run in todo], name)
  for run in every:
    if run.same_as:
      print(f"  =  {run.index:3d} {run.run_name}: same model as {run.same_as} ({run.same_note})")
    else:
      print(f"  {'  ' if run in todo else 'ok'} {run.index:3d} {run.run_name}")
  if args.dry_run:
    if args.backend == "slurm" and todo:
      print("would run: " + shlex.join(command))
    print("dry run: nothing written or started")
    return 0
  plan.write_manifest(manifest, runs)
  if not todo:
    print("all rows finished; make the table with: " + _table_command(args))
    return 0
  if args.backend == "local":
    ok = LocalRunner(manifest, args.workers).run(todo)
    print(f"next: {_table_command(args)}"
          + ("" if ok else "  (some rows did not finish: they are listed under the table)"))
    return 0 if ok else 1
  queued = queued_jobs(f"bilstm-{name}")
  if queued and not args.allow_duplicate:
    print(f"error: jobs named bilstm-{name} are already queued ({', '.join(queued)}); wait for "
          "them or scancel them (or pass --allow-duplicate: the row locks still keep a row from "
          "running twice at once)", file=sys.stderr)
    return 1
  plan.write_manifest(snapshot, runs)
  os.makedirs(os.path.join(root, "slurm"), exist_ok=True)
  print("$ " + shlex.join(command), flush=True)
  try:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
  except (OSError, subprocess.TimeoutExpired) as err:
    print(f"error: could not run sbatch: {err}", file=sys.stderr)
    return 1
  if result.returncode != 0:
    print(f"error: sbatch failed ({result.returncode}): {result.stderr.strip()}", file=sys.stderr)
    return 1
  job_id = result.stdout.strip().split(";")[0]
  print(f"submitted array job {job_id} ({len(todo)} tasks); watch with `squeue -j {job_id}`, "
        f"logs in {root}/<run>/{sweep_rows.LOG_FILE}")
  return 0


def cmd_table(args) -> int:
  # pandas and matplotlib load only for tables.
  from bilstm_jax.sweeps import tables  # pylint: disable=import-outside-toplevel
  name, spec, runs = _load(args)
  commands = [shlex.join(["bilstm-sweep", "run", args.sweep_file, *_set_args(args), "--backend",
                          "local", "--workers", "2"]) + "  # or --backend slurm",
              _table_command(args)]
  results_of = None
  if args.values_from:  # a committed table whose run directories are gone
    from bilstm_jax.sweeps import table_csv  # pylint: disable=import-outside-toplevel
    results_of, commands = table_csv.results_from_csv(args.values_from, spec.table), None
    args.test = "welch"  # the predictions a paired test needs went with the run directories
  paths, report, cells = tables.write_tables(name, spec.table, runs, args.tables_dir,
                                             status=sweep_rows.run_status, commands=commands,
                                             test=args.test, alpha=args.alpha,
                                             results_of=results_of)
  if args.values_from:
    about = os.path.join(args.tables_dir, f"{name}.about.md")
    table_csv.put_section(about, tables.table_significance.report_lines(
        cells, spec.table, args.test, args.alpha))
    paths.append(about)
  print(report)
  print("wrote " + ", ".join(paths))
  from bilstm_jax.sweeps import table_tracking  # pylint: disable=import-outside-toplevel
  wandb_cfg = config_lib.load_config(spec.config).wandb
  table_tracking.log_table(name, cells, paths[2], wandb_cfg, os.path.join(args.sweep_dir, name))
  return 0


def cmd_row(args) -> int:
  if args.record_exit is not None:
    run = plan.manifest_row(args.manifest, args.index)
    if args.record_exit != sweep_rows.EXIT_LOCKED:
      sweep_rows.record_exit(run.workdir, args.record_exit)
    return 0
  return sweep_rows.exec_row(args.manifest, args.index)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="bilstm-sweep", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = parser.add_subparsers(dest="command", required=True)

  run = sub.add_parser("run", help="run the sweep's unfinished rows (local or a SLURM array)")
  run.add_argument("sweep_file")
  run.add_argument("--backend", choices=("local", "slurm"), default="local")
  run.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
  run.add_argument("--sweep-dir", default="runs")
  run.add_argument("--workers", type=int, default=1, help="local: rows run at once")
  set_help = ("KEY=VALUE added to every row, e.g. data.source_dir=<data>/fsdd "
              "(repeatable; give `table` the same ones)")
  run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
  slurm = run.add_argument_group("slurm")
  slurm.add_argument("--partition", default=None)
  slurm.add_argument("--time", default="01:00:00", help="per array task")
  slurm.add_argument("--cpus-per-task", type=int, default=2)
  slurm.add_argument("--gpus", type=int, default=0)
  slurm.add_argument("--mem", default="4G")
  slurm.add_argument("--max-parallel", type=int, default=8, help="the %%K of --array")
  slurm.add_argument("--signal-seconds", type=int, default=120,
                     help="SIGUSR1 this long before the time limit: checkpoint and requeue")
  slurm.add_argument("--sbatch-arg", action="append", help="extra sbatch option (repeatable)")
  slurm.add_argument("--array-script", default=ARRAY_SCRIPT)
  slurm.add_argument("--allow-duplicate", action="store_true",
                     help="submit even if jobs of this sweep are still queued")

  table = sub.add_parser("table", help="tables/<sweep>.{md,tex,png} from the run directories")
  table.add_argument("sweep_file")
  table.add_argument("--sweep-dir", default="runs")
  table.add_argument("--tables-dir", default="tables")
  table.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)
  table.add_argument("--test", default="bootstrap",
                     choices=("bootstrap", "randomization", "welch"),
                     help="how each row is compared with its column's best: a paired test over "
                          "the test examples (the runs' saved predictions) or Welch's t over "
                          "seed scores (default: %(default)s)")
  table.add_argument("--alpha", type=float, default=0.05,
                     help="significance level after Holm-Bonferroni (default: %(default)s)")
  table.add_argument("--values-from", default=None, metavar="RUNS_CSV",
                     help="read each run's value from a committed <sweep>.runs.csv instead of "
                          "the run directories (gone); writes the table and about.md's "
                          "Significance section, Welch's t only")

  row = sub.add_parser("row", help="run one manifest row (what slurm/array.sbatch calls)")
  row.add_argument("manifest")
  row.add_argument("index", type=int)
  row.add_argument("--record-exit", type=int, default=None, metavar="RC",
                   help="only record the row's exit code in its run directory")
  return parser


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  if args.command == "run" and args.workers < 1:
    print("bilstm-sweep: error: --workers must be >= 1", file=sys.stderr)
    return 2
  try:
    return {"run": cmd_run, "table": cmd_table, "row": cmd_row}[args.command](args)
  except ConfigError as err:
    print(f"bilstm-sweep: error: {err}", file=sys.stderr)
    return 2


def run() -> None:
  sys.exit(main())


if __name__ == "__main__":
  run()
