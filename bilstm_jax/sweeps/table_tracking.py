"""Logs a sweep's finished table and plot to its W&B group (the local files stay the truth)."""

from __future__ import annotations

import logging
import os

import pandas as pd

from bilstm_jax.training import writer


def log_table(name: str, cells: pd.DataFrame, png_path: str, wandb_cfg, sweep_dir: str) -> None:
  """One W&B run per table, in the sweep's group; never fails the table command."""
  mode = writer.wandb_mode(wandb_cfg.mode, os.environ.get("WANDB_MODE"))
  if mode == "disabled":
    return
  import wandb  # pylint: disable=import-outside-toplevel
  os.makedirs(sweep_dir, exist_ok=True)
  try:
    run = wandb.init(project=wandb_cfg.project, entity=wandb_cfg.entity, group=name,
                     name=f"{name}-table", job_type="table", dir=sweep_dir, mode=mode,
                     settings=wandb.Settings(init_timeout=wandb_cfg.init_timeout_s))
    run.log({"table": wandb.Table(dataframe=cells.astype(str)), "plot": wandb.Image(png_path)})
    run.finish()
  except Exception as err:  # pylint: disable=broad-except
    logging.warning("could not log the table to W&B (%s); the local files are complete",
                    type(err).__name__)
