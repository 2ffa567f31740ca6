"""The optax chain a run trains with, and the parameter average beside it (optim.* keys)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from bilstm_jax.config import ConfigError


def head_max_norm(max_norm: float) -> optax.GradientTransformation:
  """Keeps each output unit's weight vector of the 'head' layer within an l2 norm of max_norm
  after every step (Kim 2014's constraint, s = 3), as the last link of the optax chain: the
  update is rewritten so that params + update is the projected point. Other parameters pass."""

  def project(path, update, param):
    names = [getattr(k, "key", None) for k in path]
    if "head" not in names or names[-1] != "kernel":
      return update
    new = param + update
    norm = jnp.sqrt(jnp.sum(jnp.square(new.astype(jnp.float32)), axis=0, keepdims=True))
    scale = jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-12)).astype(new.dtype)
    return new * scale - param

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("head_max_norm needs the params (optax's update(updates, state, params))")
    return jax.tree_util.tree_map_with_path(project, updates, params), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


def make_optimizer(optim_cfg, schedule_cfg, total_steps: int):
  """optax: clip by global norm, then AdamW/Adam (b1, b2) or SGD (momentum) on a warm-up +
  cosine/constant schedule, then the optional max-norm constraint on the head."""
  warmup = min(schedule_cfg.warmup_steps, total_steps)
  peak = optim_cfg.learning_rate
  if schedule_cfg.name == "cosine":
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, peak, warmup_steps=warmup, decay_steps=max(total_steps, warmup + 1),
        end_value=peak * schedule_cfg.final_lr_fraction)
  elif schedule_cfg.name == "constant":
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, peak, warmup), optax.constant_schedule(peak)], [warmup])
  else:
    raise ConfigError(f"config key schedule.name: {schedule_cfg.name!r}; allowed: cosine, constant")
  if optim_cfg.name == "adamw":
    opt = optax.adamw(schedule, b1=optim_cfg.b1, b2=optim_cfg.b2,
                      weight_decay=optim_cfg.weight_decay)
  elif optim_cfg.name == "adam":
    opt = optax.adam(schedule, b1=optim_cfg.b1, b2=optim_cfg.b2)
  elif optim_cfg.name == "sgd":
    # Its own key: Adam's b1 is a different quantity (a moving average's decay, not a
    # velocity's), and an adam config switched to sgd must not inherit it unawares.
    momentum = check_fraction("optim.momentum", optim_cfg.momentum, "momentum")
    opt = optax.sgd(schedule, momentum=momentum or None)
  else:
    raise ConfigError(f"config key optim.name: {optim_cfg.name!r}; allowed: adamw, adam, sgd")
  chain = [optax.clip_by_global_norm(optim_cfg.grad_clip_norm)] if optim_cfg.grad_clip_norm else []
  chain.append(opt)
  if not isinstance(optim_cfg.head_max_norm, (int, float)) or optim_cfg.head_max_norm < 0:
    raise ConfigError(f"config key optim.head_max_norm must be >= 0 (0 turns it off), got "
                      f"{optim_cfg.head_max_norm!r}")
  if optim_cfg.head_max_norm:
    chain.append(head_max_norm(float(optim_cfg.head_max_norm)))
  return optax.chain(*chain), schedule


def update_ema(ema_params, params, step, decay: float):
  """One step of the parameter average. The decay ramps up as min(decay, (1 + step) / (10 +
  step)) (TensorFlow's ExponentialMovingAverage with num_updates), so the first steps' random
  initialisation does not linger in a short run."""
  rate = jnp.minimum(decay, (1.0 + step) / (10.0 + step)).astype(jnp.float32)
  return jax.tree_util.tree_map(lambda e, p: (rate * e + (1.0 - rate) * p).astype(e.dtype),
                                ema_params, params)


def check_fraction(key: str, value, off: str) -> float:
  """`value` as a float in [0, 1), else one error naming config key `key` (0 turns `off` off)."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
    raise ConfigError(f"config key {key} must be in [0, 1) (0 turns {off} off), got {value!r}")
  return float(value)


def check_ema_decay(decay) -> float:
  return check_fraction("optim.ema_decay", decay, "the average")


def check_label_smoothing(smoothing) -> float:
  return check_fraction("optim.label_smoothing", smoothing, "smoothing")
