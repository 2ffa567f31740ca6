"""A run's set-up: data, model, the initial or restored state, checkpoints and the metric writer."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from bilstm_jax import data, models
from bilstm_jax.config import ConfigError
from bilstm_jax.data import word_dropout
from bilstm_jax.training import (
  checkpoint,
  crf_loss,
  evaluate,
  metrics,
  optimizer,
  parallel,
  predictions,
  run_files,
  writer,
)
from bilstm_jax.training.state import RunState, TrainState, init_train_state, params_finite


def say(message: str) -> None:
  """Status lines for logs (SLURM .out files): why a run resumed, stopped or did nothing."""
  if jax.process_index() == 0:
    print(message, flush=True)


def make_stream(config, train_split) -> data.batching.TrainStream:
  """The training batches of `config` over the training split (rows a multiple of devices)."""
  return data.batching.TrainStream(
      train_split, config.batch_size, config.seed, num_buckets=config.data.num_buckets,
      token_budget=config.data.token_budget, pad_multiple=config.data.pad_multiple,
      pool_batches=config.data.pool_batches, row_multiple=jax.device_count())


def host_batch(stream, step: int, data_cfg, seed: int, info: dict):
  """The numpy batch of training step `step`, word dropout applied (the whole input pipeline)."""
  batch = stream.batch(step)
  rate, alpha = data_cfg.word_dropout, data_cfg.word_dropout_alpha
  if (rate > 0 or alpha > 0) and info.get("oov_id") is not None:
    # Seeded by (seed, step): a resumed run drops exactly the same tokens.
    batch["inputs"] = word_dropout.word_dropout(
        batch["inputs"], batch["lengths"], rate, np.random.default_rng([seed, step]),
        info["oov_id"], alpha, info.get("token_counts"))
  return batch


def initial_state(config, model, tx, first_batch, mesh) -> tuple[TrainState, jax.Array]:
  """(the initial train state, replicated; the dropout key): a function of the config alone,
  the same on 1 or N devices."""
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  state = init_train_state(model, tx, init_rng, first_batch, parallel.replicated(mesh),
                           jitted=models.num_cores(config.model) == 1,
                           ema=config.optim.ema_decay > 0)
  return state, dropout_rng


@dataclasses.dataclass
class Run:
  """Everything the loop and the finish work on; `state` and `progress` move as it trains."""
  config: Any
  workdir: str
  is_main: bool
  splits: dict
  info: dict
  mesh: Any
  stream: data.batching.TrainStream
  schedule: Callable
  ema_decay: float
  label_smoothing: float
  crf: crf_loss.CRFSpec | None
  ctc: bool  # a CTC head (data.task='transcription')
  eval_fns: tuple
  state: TrainState
  dropout_rng: jax.Array
  ckpts: checkpoint.Checkpoints
  progress: RunState = dataclasses.field(default_factory=RunState)
  out: writer.MetricWriter | None = None
  provenance: dict = dataclasses.field(default_factory=dict)
  startup_s: float | None = None  # process start -> this process's first step done

  def train_batch(self, step: int):
    return host_batch(self.stream, step, self.config.data, self.config.seed, self.info)

  def evaluate(self, params, split: str, final: bool = False,
               keep: predictions.Collector | None = None) -> dict[str, float]:
    """Metrics of `split`; `final` (the best checkpoint's evaluation) adds the CTC head's beam
    search, too slow on the host for every periodic evaluation; `keep` collects every
    example's prediction."""
    batch_size = data.batching.round_up(self.config.eval_batch_size, jax.device_count())
    beam_width = self.config.model.ctc_beam_width if (final and self.ctc) else 0
    return evaluate.evaluate(self.eval_fns, params, self.splits[split], batch_size=batch_size,
                             boundaries=self.stream.boundaries, split=split, mesh=self.mesh,
                             info=self.info, beam_width=beam_width, keep=keep)

  def save(self, kind: str, step: int, first_unchecked: int) -> None:
    """Saves the state after `step` as the 'latest' or 'best' checkpoint, refusing parameters
    that are not all finite (those never reach a checkpoint)."""
    if not params_finite(self.state):
      raise FloatingPointError(
          f"non-finite parameters at step {step} (checked steps {first_unchecked}-{step}); the "
          "run stops here and its checkpoints stay at the last finite step")
    self.progress.epoch, self.progress.batch_index = self.stream.position(step)
    save = self.ckpts.save_latest if kind == "latest" else self.ckpts.save_best
    save(step, self.state, self.progress.to_dict())


def set_up(config, workdir: str, is_main: bool, config_defaults: dict | None,
           closing: contextlib.ExitStack) -> Run:
  """Data, model and state (restored when workdir has a checkpoint), then the writer. What
  must be closed is pushed on `closing` as soon as it exists."""
  # --- Data -------------------------------------------------------------------------------
  splits, info = data.get_datasets(config.data, workdir if is_main else None)
  mesh = parallel.make_mesh()
  stream = make_stream(config, splits["train"])

  # --- Model (every config mistake surfaces before the run dir is touched) ------------------
  vectors = None
  # Speech data has no token names: build_model below then says model.word_vectors is for text.
  if config.model.word_vectors and info.get("token_names") is not None:
    from bilstm_jax.data import word_vectors  # pylint: disable=import-outside-toplevel
    vectors, coverage = word_vectors.load_word_vectors(
        config.model.word_vectors, info["token_names"], config.model.embed_dim, config.seed)
    say(f"{config.model.word_vectors}: {coverage}")
  model = models.build_model(config.model, info, vectors)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  ema_decay = optimizer.check_ema_decay(config.optim.ema_decay)
  label_smoothing = optimizer.check_label_smoothing(config.optim.label_smoothing)
  crf = crf_loss.crf_spec(model, info)
  ctc = config.model.head == "ctc"
  if (crf is not None or ctc) and label_smoothing:
    raise ConfigError("config key optim.label_smoothing is for the softmax head; "
                      f"model.head={config.model.head!r} trains on the sequence likelihood "
                      "(set it to 0)")
  # Fine labels named 'COARSE:fine' (TREC's 50) are also scored at the coarse level.
  coarse_of = metrics.coarse_ids(info.get("label_names"))
  val_metrics = evaluate.metric_names(info, "val", coarse_of is not None)
  if config.eval_metric not in val_metrics:
    raise ConfigError(f"config key eval_metric: {config.eval_metric!r} is not computed for this "
                      f"task; allowed: {', '.join(val_metrics)}")
  os.makedirs(workdir, exist_ok=True)
  if is_main:
    run_files.write_or_check_config(workdir, config, config_defaults)

  # --- State, restored when the workdir has a checkpoint ------------------------------------
  state, dropout_rng = initial_state(config, model, tx, stream.batch(0), mesh)
  run = Run(config=config, workdir=workdir, is_main=is_main, splits=splits, info=info, mesh=mesh,
            stream=stream, schedule=schedule, ema_decay=ema_decay, label_smoothing=label_smoothing,
            crf=crf, ctc=ctc, eval_fns=evaluate.make_eval_fns(model.apply, coarse_of, crf, ctc),
            state=state, dropout_rng=dropout_rng,
            ckpts=closing.enter_context(checkpoint.Checkpoints(workdir)))
  restored = run.ckpts.restore_latest(state)
  if restored is not None:
    run.state, meta = restored
    run.progress = RunState.from_dict(meta)
    step = int(run.state.step)
    saved_position = (run.progress.epoch, run.progress.batch_index)
    if saved_position != stream.position(step):
      raise ConfigError(
          f"the checkpoint in {workdir} was taken at data position (epoch, batch) "
          f"{saved_position}, but the data now puts step {step} at {stream.position(step)}: "
          "the dataset or batching changed; use a new --workdir")
    say(f"resumed {workdir} from step {step}")

  # --- Outputs ----------------------------------------------------------------------------
  run.provenance = run_files.provenance()
  flat = run_files.flat_config(config)
  wandb_run = writer.init_wandb(config.wandb, {**flat, **run.provenance}, workdir,
                                os.path.basename(os.path.abspath(workdir)),
                                os.environ.get("WANDB_MODE")) if is_main else None
  start_step = int(run.state.step)
  run.out = closing.enter_context(
      writer.MetricWriter(workdir, config.total_steps, start_step, wandb_run, enabled=is_main))
  run.out.drop_after(start_step)
  return run
