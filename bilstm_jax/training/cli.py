"""`bilstm-train`: flags -> config -> train.train_and_evaluate(config, workdir); nothing else."""

import functools
import os
import sys

from absl import app, flags, logging

from bilstm_jax import config as config_lib
from bilstm_jax.training import host_memory, preemption, run_files, workdir_lock

_CONFIG = config_lib.define_config_flag(
    "config", "Task config file, e.g. configs/synthetic.py[:smoke]")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory; the run resumes from it.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv, config_defaults: dict | None = None):
  """`config_defaults`: the config file's own values, flat (see run)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    # Orbax narrates every save at INFO; keep logs to our own lines unless asked.
    logging.set_verbosity(logging.WARNING)
  # Before the slow imports: a SIGUSR1/SIGTERM from SLURM from here on means "checkpoint at the
  # next step boundary and exit", never a kill mid-step.
  stop = preemption.install_stop_request()
  from bilstm_jax.data import prepared  # pylint: disable=import-outside-toplevel
  from bilstm_jax.training import (  # pylint: disable=import-outside-toplevel
    compile_cache,
    parallel,
    train,
  )
  compile_cache.use_default_cache()
  parallel.initialize_distributed()  # joins an `srun -n N` job; no-op for one process
  try:
    results = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value, should_stop=stop,
                                       config_defaults=config_defaults)
  except prepared.NotPrepared as err:
    sys.exit(f"bilstm-train: error: {err}:\n  {prepared.prepare_command(sys.argv)}")
  except config_lib.ConfigError as err:
    sys.exit(f"bilstm-train: error: {err}")
  except workdir_lock.WorkdirBusy as err:
    print(f"bilstm-train: error: {err}", file=sys.stderr, flush=True)
    sys.exit(workdir_lock.EXIT_BUSY)
  if results is None:
    print(f"bilstm-train: stopped by {stop.signal_name} with a checkpoint in {_WORKDIR.value}; "
          f"exit {preemption.EXIT_PREEMPTED} (rerun the same command to resume)", flush=True)
    sys.exit(preemption.EXIT_PREEMPTED)
  print(f"results: {os.path.join(_WORKDIR.value, 'results.json')}")


def run():
  # First, before anything starts JAX's thread pool: XLA's per-call temp buffers then reuse
  # freed heap pages instead of page-faulting fresh ones every step (host_memory.py). It
  # applies only when JAX will run on the CPU (host_memory.runs_on_cpu has the rule).
  if os.environ.get("BILSTM_JAX_MALLOC", "retain") != "default":
    host_memory.retain_freed_memory()
  # A trainer owns its W&B service. Any Python process that used wandb (a notebook, a test
  # runner, a launcher) leaves WANDB_SERVICE in the environment of its children; a trainer that
  # joined that shared service and was killed with -9 would leave its run id held there, and the
  # relaunch that resumes the run would fail with "run ID ... is in use".
  os.environ.pop("WANDB_SERVICE", None)
  config = config_lib.check_command_line(sys.argv, "bilstm-train")
  # The file's own values, before any --config.key: a requeued job whose code gained a config
  # key since its run started still resumes while that key sits at its default.
  defaults = None if config is None else run_files.flat_config(config)
  app.run(functools.partial(main, config_defaults=defaults))


if __name__ == "__main__":
  run()
