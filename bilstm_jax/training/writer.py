"""Run outputs: metrics.jsonl, stdout (a progress bar on a terminal, plain lines otherwise), W&B."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from typing import Any, Self

from bilstm_jax import files
from bilstm_jax.config import ConfigError

WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_ID_FILE = "wandb_id.txt"


def wandb_mode(requested: str, env_mode: str | None = None) -> str:
  """The W&B mode a run uses: the environment's WANDB_MODE when set, else the config's.

  The environment wins as it does for W&B itself, so `WANDB_MODE=disabled` turns tracking off
  for every run a shell, test suite or CI job starts, whatever the configs say. 'auto' is
  online when an API key is configured (env or netrc), offline otherwise.
  """
  if requested not in WANDB_MODES:
    raise ConfigError(f"config key wandb.mode: {requested!r}; allowed: {', '.join(WANDB_MODES)}")
  if env_mode:
    if env_mode not in WANDB_MODES:
      raise ConfigError(f"environment variable WANDB_MODE={env_mode!r}; allowed: "
                        f"{', '.join(WANDB_MODES)} (or unset it to use config key wandb.mode)")
    if env_mode != "auto":  # an environment that says "auto" leaves the choice to the config
      requested = env_mode
  if requested != "auto":
    return requested
  import wandb  # pylint: disable=import-outside-toplevel
  return "online" if wandb.login(prompt=False, verify=False) else "offline"


def wandb_run_id(workdir: str) -> str:
  """The W&B run id of the run in workdir (workdir/wandb_id.txt), made on first use.

  Written atomically: a kill mid-write leaves no file or the whole id, never an empty id that
  a relaunch would hand to W&B.
  """
  path = os.path.join(workdir, WANDB_ID_FILE)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      run_id = f.read().strip()
    if run_id:
      return run_id
  run_id = uuid.uuid4().hex[:12]
  files.atomic_write_text(path, run_id)
  return run_id


def init_wandb(wandb_cfg, flat_config: dict, workdir: str, run_name: str,
               env_mode: str | None = None):
  """A W&B run whose files live under workdir/wandb; resumes the same run id after a restart.

  `env_mode` is the environment's WANDB_MODE (see wandb_mode). Returns None when disabled.
  Online failures (no network, bad key) fall back to offline with one warning: tracking must
  never stop training.
  """
  mode = wandb_mode(wandb_cfg.mode, env_mode)
  if mode == "disabled":
    return None
  import wandb  # pylint: disable=import-outside-toplevel
  run_id = wandb_run_id(workdir)
  kwargs = dict(project=wandb_cfg.project, entity=wandb_cfg.entity, group=wandb_cfg.group,
                name=wandb_cfg.name or run_name, tags=list(wandb_cfg.tags), config=flat_config,
                dir=workdir, id=run_id, resume="allow")
  try:
    return wandb.init(mode=mode, settings=wandb.Settings(init_timeout=wandb_cfg.init_timeout_s),
                      **kwargs)
  except Exception as err:  # pylint: disable=broad-except
    if mode != "online":
      raise
    logging.warning("W&B online init failed (%s); logging offline under %s instead "
                    "(upload later with `wandb sync`)", type(err).__name__, workdir)
    print(f"warning: W&B unreachable ({type(err).__name__}); logging offline", flush=True)
    wandb.teardown()  # the failed online attempt still holds the run id in this process
    return wandb.init(mode="offline", **kwargs)


class MetricWriter:
  """Appends one JSON object per log step to metrics.jsonl and mirrors it to stdout and W&B.

  A context manager: leaving it closes the progress bar and finishes the W&B run with
  `exit_code` (1 when an exception leaves it).
  """

  def __init__(self, workdir: str, total_steps: int, start_step: int, wandb_run=None,
               enabled: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.wandb_run = wandb_run
    self.enabled = enabled
    self.bar = None
    self.exit_code = 0
    if enabled and sys.stdout.isatty():
      from tqdm import tqdm  # pylint: disable=import-outside-toplevel
      self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)

  def drop_after(self, step: int) -> None:
    """On resume, forget lines past the restored step: they will be written again, identically."""
    if not self.enabled or not os.path.exists(self.path):
      return
    lines = []
    with open(self.path) as f:
      for line in f:
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          continue  # a line cut short by a kill; it is rewritten after the resume
        if record["step"] <= step:
          lines.append(line if line.endswith("\n") else line + "\n")
    files.atomic_write_text(self.path, "".join(lines))

  def write(self, step: int, metrics: dict[str, Any]) -> None:
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
    # An append, not files.atomic_open's rewrite (which would copy the whole file every log
    # step): a kill can cut only this last line, and drop_after drops it on resume.
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if self.wandb_run is not None:
      try:
        self.wandb_run.log(metrics, step=int(step))
      except Exception as err:  # pylint: disable=broad-except
        # Tracking must never stop training; metrics.jsonl still has everything.
        logging.warning("W&B logging failed (%s); continuing without it", type(err).__name__)
        self.wandb_run = None
    text = " ".join(f"{k}={_fmt(v)}" for k, v in record.items() if k != "step")
    if self.bar is not None:
      self.bar.write(f"step {step}: {text}")
    else:
      print(f"step {step}: {text}", flush=True)

  def advance(self, step: int) -> None:
    if self.bar is not None:
      self.bar.update(step - self.bar.n)

  def summarize(self, results: dict[str, Any]) -> None:
    """A finished run's results as the W&B run's summary."""
    if self.wandb_run is not None:
      self.wandb_run.summary.update({k: v for k, v in results.items() if not isinstance(v, dict)})

  def close_bar(self) -> None:
    if self.bar is not None:
      self.bar.close()
      self.bar = None

  def close(self, exit_code: int = 0) -> None:
    """Closes the bar and finishes the W&B run; a second call does nothing."""
    self.close_bar()
    run, self.wandb_run = self.wandb_run, None
    if run is not None:
      try:
        run.finish(exit_code=exit_code)
      except Exception as err:  # pylint: disable=broad-except
        # Never in the way of the run's own outcome (or of the exception being raised).
        logging.warning("W&B finish failed (%s); metrics.jsonl has everything",
                        type(err).__name__)

  def __enter__(self) -> Self:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    self.close(1 if exc_type is not None else self.exit_code)


def _plain(value):
  return value.item() if hasattr(value, "item") else value


def _fmt(value) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)
