"""Training: create_train_state, train_step, eval_step, and train_and_evaluate."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.experimental import multihost_utils

from bilstm_jax import data, models
from bilstm_jax.config import ConfigError
from bilstm_jax.data import word_dropout
from bilstm_jax.training import (
  checkpoint,
  evaluate,
  metrics,
  optimizer,
  parallel,
  run_files,
  workdir_lock,
  writer,
)


class TrainState(train_state.TrainState):
  """flax's TrainState plus an optional exponential moving average of the parameters.

  `ema_params` is None unless `optim.ema_decay` > 0; it is checkpointed with the rest, so a
  resumed run continues the same average.
  """
  ema_params: Any = flax.struct.field(pytree_node=True, default=None)


def eval_params(state: TrainState):
  """The parameters validation, test and the best checkpoint are judged by."""
  return state.params if state.ema_params is None else state.ema_params


def create_train_state(model, tx, rng, batch, *, ema: bool = False) -> TrainState:
  variables = model.init({"params": rng}, batch["inputs"], batch["lengths"], train=False)
  params = variables["params"]
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                           ema_params=jax.tree_util.tree_map(jnp.copy, params) if ema else None)


def init_train_state(model, tx, rng, batch, sharding, *, jitted: bool = True,
                     ema: bool = False) -> TrainState:
  """create_train_state placed with `sharding` (every process holds the same global state).

  jitted=False initialises op by op, for models with more than one Bi-LSTM core (a character
  encoder): XLA:CPU (jax 0.10.2) deadlocks running one program that holds two of
  `lstm.init_params`' orthogonal QRs at some sizes (e.g. 256 and 64 units; 128 and 64 runs),
  and a hung init never errors. Op by op, each QR is a program of its own. The two paths draw
  different bits (XLA fuses the jitted initialisers differently), so a run keeps the path its
  config implies (see models.num_cores).
  """
  if jitted:
    return jax.jit(lambda r: create_train_state(model, tx, r, batch, ema=ema),
                   out_shardings=sharding)(rng)
  state = create_train_state(model, tx, rng, batch, ema=ema)
  return jax.tree_util.tree_map(
      lambda x: jax.make_array_from_callback(np.shape(x), sharding,
                                             lambda index, x=np.asarray(x): x[index]), state)


def train_step(state: TrainState, batch, rng, schedule, ema_decay: float = 0.0,
               label_smoothing: float = 0.0):
  """One optimizer step; returns the new state and scalar metrics (loss, grad norm, lr).

  With a state that carries `ema_params`, the average moves towards the new parameters."""
  dropout_rng = jax.random.fold_in(rng, state.step)

  def loss_fn(params):
    logits = state.apply_fn({"params": params}, batch["inputs"], batch["lengths"], train=True,
                            rngs={"dropout": dropout_rng})
    return metrics.loss_and_sums(logits, batch, label_smoothing=label_smoothing)

  (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads)
  if state.ema_params is not None:
    new_state = new_state.replace(
        ema_params=optimizer.update_ema(state.ema_params, new_state.params, state.step, ema_decay))
  return new_state, {
      "train/loss": loss,
      "train/accuracy": sums["correct_sum"] / jnp.maximum(sums["count"], 1.0),
      "train/grad_norm": optax.tree.norm(grads),
      "train/learning_rate": schedule(state.step),
  }


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


def params_sha256(params) -> str:
  """Fingerprint of the parameters' bytes, in a fixed leaf order with paths, dtypes and shapes."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]
  for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f"{jax.tree_util.keystr(path)}:{leaf.dtype}:{leaf.shape};".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def _check_loop_config(config) -> None:
  for key in ("total_steps", "batch_size", "eval_batch_size", "log_every_steps",
              "eval_every_steps", "ckpt_every_steps"):
    if not isinstance(config[key], int) or config[key] <= 0:
      raise ConfigError(f"config key {key} must be a positive integer, got {config[key]!r}")


def _agreed(flag: bool) -> bool:
  """True on every process when any process was asked to stop (a signal may reach only one);
  processes that disagreed would deadlock in the next collective or checkpoint."""
  if jax.process_count() == 1:
    return bool(flag)
  return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))


def _say(message: str) -> None:
  """Status lines for logs (SLURM .out files): why a run resumed, stopped or did nothing."""
  if jax.process_index() == 0:
    print(message, flush=True)


def _first_nonfinite(window) -> tuple[int, str] | None:
  for step, step_metrics in window:
    for name in ("train/loss", "train/grad_norm"):
      if not np.isfinite(step_metrics[name]):
        return step, name
  return None


def train_and_evaluate(config, workdir: str, *, should_stop: Callable[[], bool] | None = None,
                       config_defaults: dict | None = None):
  """Trains (resuming from workdir if it holds a checkpoint) and writes results.json.

  `should_stop` is polled at every step boundary (preemption, a test's early stop): when it
  returns True the run saves a checkpoint and returns None; relaunching continues it.
  `config_defaults`: the flat config of the config file without overrides; a relaunch of a
  run saved before a key was added to the code resumes when that key is at its default.
  Returns the results dict once the run is complete.
  """
  # --- Setup: a finished run does nothing -----------------------------------------------
  is_main = jax.process_index() == 0
  done = run_files.read_results(workdir)
  if done is not None:
    _say(f"{workdir} is complete (results.json); nothing to do")
    return done
  _check_loop_config(config)
  models.check_model_config(config.model)  # before the data layer writes vocab files
  # WorkdirBusy if another trainer is in it; the other processes of a multi-process job share
  # process 0's run dir and lock.
  lock = workdir_lock.hold_trainer_lock(workdir) if is_main else contextlib.nullcontext()
  with lock:
    return _train(config, workdir, should_stop, config_defaults, is_main)


def _train(config, workdir: str, should_stop, config_defaults, is_main: bool):
  """train_and_evaluate past its checks, holding the run directory's lock."""
  # --- Data -------------------------------------------------------------------------------
  splits, info = data.get_datasets(config.data, workdir if is_main else None)
  mesh = parallel.make_mesh()
  stream = make_stream(config, splits["train"])
  eval_batch_size = data.batching.round_up(config.eval_batch_size, jax.device_count())

  # --- Model and state (every config mistake surfaces before the run dir is touched) --------
  vectors = None
  # Speech data has no token names: build_model below then says model.word_vectors is for text.
  if config.model.word_vectors and info.get("token_names") is not None:
    from bilstm_jax.data import word_vectors  # pylint: disable=import-outside-toplevel
    vectors, coverage = word_vectors.load_word_vectors(
        config.model.word_vectors, info["token_names"], config.model.embed_dim, config.seed)
    _say(f"{config.model.word_vectors}: {coverage}")
  model = models.build_model(config.model, info, vectors)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, config.total_steps)
  ema_decay = optimizer.check_ema_decay(config.optim.ema_decay)
  label_smoothing = optimizer.check_label_smoothing(config.optim.label_smoothing)
  # Fine labels named 'COARSE:fine' (TREC's 50) are also scored at the coarse level.
  coarse_of = metrics.coarse_ids(info.get("label_names"))
  val_metrics = evaluate.metric_names(info, "val", coarse_of is not None)
  if config.eval_metric not in val_metrics:
    raise ConfigError(f"config key eval_metric: {config.eval_metric!r} is not computed for this "
                      f"task; allowed: {', '.join(val_metrics)}")
  os.makedirs(workdir, exist_ok=True)
  if is_main:
    run_files.write_or_check_config(workdir, config, config_defaults)
  rng = jax.random.PRNGKey(config.seed)
  init_rng, dropout_rng = jax.random.split(rng)
  # Replicated, so every process holds the same global state.
  state = init_train_state(model, tx, init_rng, stream.batch(0), parallel.replicated(mesh),
                           jitted=models.num_cores(config.model) == 1, ema=ema_decay > 0)
  p_train_step = jax.jit(
      lambda s, b, r: train_step(s, b, r, schedule, ema_decay, label_smoothing),
      donate_argnums=0)
  eval_fns = evaluate.make_eval_fns(model.apply, coarse_of)

  def run_eval(params, split):
    return evaluate.evaluate(eval_fns, params, splits[split], batch_size=eval_batch_size,
                             boundaries=stream.boundaries, split=split, mesh=mesh, info=info)

  def train_batch(step):
    return host_batch(stream, step, config.data, config.seed, info)

  # --- Restore ----------------------------------------------------------------------------
  ckpts = checkpoint.Checkpoints(workdir)
  meta = {"best_metric": None, "best_step": None, "train_time_s": 0.0, "train_tokens": 0}
  restored = ckpts.restore_latest(state)
  if restored is not None:
    state, meta = restored
    saved_position = (meta.get("epoch"), meta.get("batch_index"))
    if saved_position != stream.position(int(state.step)):
      raise ConfigError(
          f"the checkpoint in {workdir} was taken at data position (epoch, batch) "
          f"{saved_position}, but the data now puts step {int(state.step)} at "
          f"{stream.position(int(state.step))}: the dataset or batching changed; use a new "
          "--workdir")
    _say(f"resumed {workdir} from step {int(state.step)}")
  start_step = int(state.step)

  provenance = run_files.provenance()
  flat = run_files.flat_config(config)
  wandb_run = writer.init_wandb(config.wandb, {**flat, **provenance}, workdir,
                                os.path.basename(os.path.abspath(workdir)),
                                os.environ.get("WANDB_MODE")) if is_main else None
  out = writer.MetricWriter(workdir, config.total_steps, start_step, wandb_run, enabled=is_main)
  out.drop_after(start_step)

  def save_latest(step):
    position = stream.position(step)
    ckpts.save_latest(step, state, {**meta, "epoch": position[0], "batch_index": position[1]})

  # --- Train loop -------------------------------------------------------------------------
  window = []  # (step, device metrics) since the last host check
  segment_start = time.time()
  segment_tokens = 0
  for step in range(start_step, config.total_steps):
    if should_stop is not None and _agreed(should_stop()):
      meta["train_time_s"] += time.time() - segment_start
      meta["train_tokens"] += segment_tokens
      save_latest(step)
      out.close()
      ckpts.close()
      _say(f"stopped at step {step}; relaunch the same command to continue")
      return None
    batch = train_batch(step)
    state, step_metrics = p_train_step(state, parallel.shard_batch(batch, mesh), dropout_rng)
    segment_tokens += int(batch["lengths"].sum())
    window.append((step + 1, step_metrics))
    done_steps = step + 1
    is_last = done_steps == config.total_steps
    log_now = done_steps % config.log_every_steps == 0 or is_last
    eval_now = done_steps % config.eval_every_steps == 0 or is_last
    ckpt_now = done_steps % config.ckpt_every_steps == 0 or is_last
    out.advance(done_steps)
    if not (log_now or eval_now or ckpt_now):
      continue
    # Host check before anything is written: a non-finite step never reaches a checkpoint.
    window = jax.device_get(window)
    bad = _first_nonfinite(window)
    if bad is not None:
      raise FloatingPointError(
          f"non-finite {bad[1]} at step {bad[0]} (checked steps {window[0][0]}-{window[-1][0]}); "
          "the run stops here and its checkpoints stay at the last finite step")
    elapsed = meta["train_time_s"] + time.time() - segment_start
    tokens = meta["train_tokens"] + segment_tokens
    record = {}
    if log_now:
      record.update({k: float(v) for k, v in window[-1][1].items()})
      record["perf/tokens_per_s"] = tokens / max(elapsed, 1e-9)
      record["train/padding_fraction"] = stream.padding_fraction(stream.position(step)[0])
      record["train/epoch"] = stream.fractional_epoch(step)
    window = []
    if eval_now:
      record.update(run_eval(eval_params(state), "val"))
      value = record[config.eval_metric]
      # Ties go to the later step: a small validation set saturates early (FSDD: 264/270
      # from step 400 of 2000) and the later model has trained on more data.
      if meta["best_metric"] is None or value >= meta["best_metric"]:
        meta["best_metric"], meta["best_step"] = value, done_steps
        ckpts.save_best(done_steps, state, dict(meta))
    if record:
      out.write(done_steps, record)
    if ckpt_now:
      meta["train_time_s"] = elapsed
      meta["train_tokens"] = tokens
      segment_start, segment_tokens = time.time(), 0
      save_latest(done_steps)
  out.close()

  # --- Final evaluation at the best checkpoint --------------------------------------------
  best_state, best_meta = ckpts.restore_best(state)
  final = {}
  for split in ("val", "test"):
    final.update(run_eval(eval_params(best_state), split))
  results = {
      "best_step": best_meta["best_step"],
      "best_metric": config.eval_metric,
      "best_value": best_meta["best_metric"],
      **final,
      "final_step": int(state.step),
      "wall_time_s": meta["train_time_s"],
      "train_tokens_per_s": meta["train_tokens"] / max(meta["train_time_s"], 1e-9),
      "params_sha256": params_sha256(state.params),
      **({} if state.ema_params is None else
         {"ema_params_sha256": params_sha256(state.ema_params)}),
      **provenance,
  }
  if is_main:
    _say("at the best checkpoint (step %s): " % best_meta["best_step"]
         + " ".join(f"{k}={v:.4g}" for k, v in final.items()))
    run_files.write_results(workdir, results)
    if wandb_run is not None:
      wandb_run.summary.update({k: v for k, v in results.items() if not isinstance(v, dict)})
      wandb_run.finish()
  ckpts.close()
  return results
