"""A plain PyTorch training loop of a config's model, fed bilstm-train's own batches.

  python -m bilstm_jax.bench.torch_trainer --config configs/ud_pos.py \\
      --config.data.source_dir=<data>/ud_english_ewt --config.total_steps=1000 --out torch.json

The model is the one `build_model` makes for the config, in PyTorch: token embedding (or the
linear projection of speech frames), input dropout, `nn.LSTM(bidirectional=True,
batch_first=True)` over packed sequences (cuDNN on a GPU), output dropout, and a linear head per
token (tagging) or over the pooled utterance (classification). It starts from the trainer's own
initial weights (`setup.initial_state`, converted through `interop`) and trains with the
config's chain: global-norm clipping, then Adam, AdamW or SGD on the same schedule. Batches come
from the project's data layer exactly as the trainer draws them (`make_stream`, `host_batch`:
bucketing, padding, word dropout), so tokens and padding are identical step for step.

Timing uses the trainer's definitions (training/loop.py, finish.py): the tokens of a step are
sum(lengths) (valid tokens; padding rows have length 0), the loss is read on the host once per
`log_every_steps` as the trainer fetches its metrics, each log window's tokens/s is its tokens
over its seconds, and the whole loop's tokens/s is every token over the loop's wall time. The
top-level steps/s, tokens/s and wall_s leave out the first --untimed-steps steps.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import jax
import numpy as np

from bilstm_jax import config as config_lib
from bilstm_jax import data, files, interop, models, provenance
from bilstm_jax.models.build import PER_STEP_TASKS
from bilstm_jax.training import host_memory, optimizer, parallel, setup

POOLINGS = ("final", "mean", "max", "mean_max")


def unsupported(config, info: dict) -> list[str]:
  """What the PyTorch loop does not model for this config and data (empty: it runs)."""
  model_cfg, problems = config.model, []
  if info["task"] not in ("tagging", "classification"):
    problems.append(f"data.task={info['task']!r} (tagging and classification only)")
  if model_cfg.head != "softmax":
    problems.append(f"model.head={model_cfg.head!r} (softmax only)")
  if info["task"] == "classification" and model_cfg.pooling not in POOLINGS:
    problems.append(f"model.pooling={model_cfg.pooling!r} ({', '.join(POOLINGS)} only)")
  if model_cfg.bidirectional and model_cfg.merge != "concat":
    # nn.LSTM concatenates its directions, between layers and at the output.
    problems.append(f"model.merge={model_cfg.merge!r} (concat only)")
  if model_cfg.char_units or info.get("char_vocab_size") or info.get("feature_vocab_sizes"):
    problems.append("character or token-feature inputs (word ids or frames only)")
  if model_cfg.num_layers > 1 and model_cfg.dropout and model_cfg.dropout_kind != "standard":
    problems.append(f"model.dropout_kind={model_cfg.dropout_kind!r} (standard only)")
  if model_cfg.target_delay:
    problems.append("model.target_delay > 0")
  if model_cfg.compute_dtype != "float32":
    problems.append(f"model.compute_dtype={model_cfg.compute_dtype!r} (float32 only)")
  if config.optim.ema_decay or config.optim.head_max_norm:
    problems.append("optim.ema_decay or optim.head_max_norm (both must be 0)")
  return problems


def build_model(model_cfg, info: dict, params, device):
  """(modules, forward): the config's model with the Flax `params`' weights on `device`;
  forward(batch, train) -> the logits of a `to_device` batch."""
  import torch  # pylint: disable=import-outside-toplevel
  nn, functional = torch.nn, torch.nn.functional
  as_tensor = lambda a: torch.from_numpy(np.array(a, np.float32))
  encoder = params["encoder"]
  if info["vocab_size"] is None:  # speech: each frame projected by a linear layer
    kernel = encoder["project"]["kernel"]
    embed = nn.Linear(*kernel.shape)
    embed.load_state_dict({"weight": as_tensor(kernel).T,
                           "bias": as_tensor(encoder["project"]["bias"])})
  else:
    embed = nn.Embedding(*encoder["embed"]["embedding"].shape)
    embed.load_state_dict({"weight": as_tensor(encoder["embed"]["embedding"])})
  layers = model_cfg.num_layers
  lstm = nn.LSTM(model_cfg.embed_dim, model_cfg.units, num_layers=layers,
                 bidirectional=model_cfg.bidirectional, batch_first=True,
                 dropout=model_cfg.dropout if layers > 1 else 0.0)
  lstm.load_state_dict({k: as_tensor(v) for k, v in
                        interop.to_torch(encoder["lstm"]["lstm"]).items()}, strict=True)
  for name, tensor in lstm.named_parameters():
    # Our cell has one bias (interop puts it in bias_ih): bias_hh stays 0 and untrained, so
    # the clipping norm and the Adam updates see the trainer's parameters, not a second copy.
    if name.startswith("bias_hh"):
      tensor.requires_grad_(False)
  kernel = params["head"]["kernel"]
  head = nn.Linear(*kernel.shape)
  head.load_state_dict({"weight": as_tensor(kernel).T, "bias": as_tensor(params["head"]["bias"])})
  modules = nn.ModuleDict({"embed": embed, "lstm": lstm, "head": head}).to(device)
  tagging = info["task"] in PER_STEP_TASKS
  directions = 2 if model_cfg.bidirectional else 1

  def pool(y, h, lengths_f, pooling):
    if pooling == "final":  # forward state at the last valid step, backward at the first
      return torch.cat(list(h[-directions:]), dim=-1)
    if pooling == "mean":  # padded steps are 0 after pad_packed_sequence
      return y.sum(1) / lengths_f[:, None]
    if pooling == "max":
      valid = torch.arange(y.shape[1], device=y.device)[None, :] < lengths_f[:, None]
      return y.masked_fill(~valid[:, :, None], float("-inf")).amax(1)
    return torch.cat([pool(y, h, lengths_f, "mean"), pool(y, h, lengths_f, "max")], dim=-1)

  def forward(batch: dict, train: bool):
    """Logits of a `to_device` batch (its rows in its `order`)."""
    inputs = batch["inputs"]
    x = functional.dropout(modules["embed"](inputs), model_cfg.input_dropout, train)
    packed = nn.utils.rnn.pack_padded_sequence(x, batch["lengths"], batch_first=True)
    y, (h, _) = modules["lstm"](packed)
    y = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=inputs.shape[1])[0]
    if not tagging:
      y = pool(y, h, batch["lengths_f"], model_cfg.pooling)
    return modules["head"](functional.dropout(y, model_cfg.output_dropout, train))

  return modules, forward


def make_optimizer(optim_cfg, parameters):
  """The torch counterpart of optimizer.make_optimizer's Adam/AdamW/SGD (lr set every step)."""
  import torch  # pylint: disable=import-outside-toplevel
  betas = (optim_cfg.b1, optim_cfg.b2)
  if optim_cfg.name == "adamw":  # decoupled decay scaled by the lr, as optax.adamw
    return torch.optim.AdamW(parameters, lr=0.0, betas=betas, eps=1e-8,
                             weight_decay=optim_cfg.weight_decay)
  if optim_cfg.name == "adam":
    return torch.optim.Adam(parameters, lr=0.0, betas=betas, eps=1e-8)
  return torch.optim.SGD(parameters, lr=0.0, momentum=optim_cfg.momentum)


def to_device(batch: dict, device) -> dict:
  """The numpy batch as tensors on `device`, its rows sorted longest first (`order`).

  Sorted rows let packing run with enforce_sorted=True: unsorted, pack_padded_sequence and
  pad_packed_sequence each copy a row index between host and device, and each copy waits for
  the device, which would stop the host from queuing the next step while one runs. Lengths
  also stay on the CPU (packing reads them there); on a GPU the copies go from pinned memory,
  without waiting either."""
  import torch  # pylint: disable=import-outside-toplevel
  device = torch.device(device)
  order = np.argsort(-batch["lengths"], kind="stable")
  lengths, mask, labels = batch["lengths"][order], batch["mask"][order], batch["labels"][order]
  if labels.ndim == 2:  # a weight per valid token, as metrics.example_weights
    weights = (np.arange(labels.shape[1])[None, :] < lengths[:, None]) * mask[:, None]
  else:
    weights = mask
  # Packing rejects empty rows: padding rows get one step, and weight 0 in the loss.
  lengths = np.maximum(lengths, 1).astype(np.int64)

  def put(array):
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return (tensor.pin_memory() if device.type == "cuda" else tensor).to(device, non_blocking=True)

  return {"inputs": put(batch["inputs"][order]), "labels": put(labels.astype(np.int64)),
          "weights": put(weights.astype(np.float32)), "lengths": torch.from_numpy(lengths),
          "lengths_f": put(lengths.astype(np.float32)), "order": order}


def loss_fn(logits, batch: dict, label_smoothing: float = 0.0):
  """Mean cross-entropy over valid tokens (tagging) or real rows (classification), as
  metrics.loss_and_sums."""
  import torch  # pylint: disable=import-outside-toplevel
  nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          batch["labels"].reshape(-1), reduction="none",
                                          label_smoothing=label_smoothing)
  weights = batch["weights"].reshape(-1)
  return (nll * weights).sum() / weights.sum().clamp(min=1.0)


def train(config, splits: dict, info: dict, untimed_steps: int = 5, device: str = "auto") -> dict:
  """Trains config.total_steps steps on the trainer's batches; the timings as a JSON-ready dict."""
  import torch  # pylint: disable=import-outside-toplevel
  problems = unsupported(config, info)
  if problems:
    raise config_lib.ConfigError("the PyTorch loop does not model " + "; ".join(problems))
  device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                        if device == "auto" else device)
  sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
  torch.manual_seed(config.seed)
  total, log_every = config.total_steps, config.log_every_steps
  stream = setup.make_stream(config, splits["train"])
  model = models.build_model(config.model, info)
  tx, schedule = optimizer.make_optimizer(config.optim, config.schedule, total)
  state, _ = setup.initial_state(config, model, tx, stream.batch(0), parallel.make_mesh())
  modules, forward = build_model(config.model, info, jax.device_get(state.params), device)
  parameters = [p for p in modules.parameters() if p.requires_grad]
  opt = make_optimizer(config.optim, parameters)
  # The step's learning rate is schedule(step), as optax counts updates from 0.
  rates = np.asarray(jax.device_get(jax.vmap(schedule)(np.arange(total))), np.float64)
  clip, smoothing = config.optim.grad_clip_norm, config.optim.label_smoothing
  modules.train()

  def step(batch, rate):
    for group in opt.param_groups:
      group["lr"] = rate
    placed = to_device(batch, device)
    loss = loss_fn(forward(placed, True), placed, smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
      torch.nn.utils.clip_grad_norm_(parameters, clip)
    opt.step()
    return loss.detach()

  step_tokens, windows = [], []
  loss_sum, window_steps, window_tokens = torch.zeros((), device=device), 0, 0
  sync()
  start = window_start = time.perf_counter()
  timed_start = start if untimed_steps <= 0 else None
  for index in range(total):
    if index == untimed_steps:  # the untimed steps' kernels finish before the clock starts
      sync()
      timed_start = time.perf_counter()
    batch = setup.host_batch(stream, index, config.data, config.seed, info)
    loss_sum += step(batch, float(rates[index]))
    step_tokens.append(int(batch["lengths"].sum()))
    window_steps, window_tokens = window_steps + 1, window_tokens + step_tokens[-1]
    done = index + 1
    if done % log_every == 0 or done == total:
      loss = float(loss_sum) / window_steps  # the host sync, as at the trainer's log step
      now = time.perf_counter()
      if not np.isfinite(loss):
        raise FloatingPointError(f"non-finite loss in steps {done - window_steps + 1}-{done}")
      windows.append({"step": done, "loss": loss, "steps": window_steps, "tokens": window_tokens,
                      "seconds": now - window_start,
                      "tokens_per_s": window_tokens / max(now - window_start, 1e-9)})
      loss_sum, window_steps, window_tokens = torch.zeros((), device=device), 0, 0
      window_start = time.perf_counter()
  sync()
  end = time.perf_counter()
  timed = max(total - max(untimed_steps, 0), 0)
  timed_tokens = sum(step_tokens[total - timed:])
  timed_s = end - (timed_start if timed_start is not None else end)
  return {
      "system": "pytorch", "task": info["task"], "device": device.type,
      "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                      else provenance.machine()["cpu"]),
      "steps": total, "untimed_steps": total - timed, "timed_steps": timed,
      "wall_s": timed_s, "steps_per_s": timed / max(timed_s, 1e-9), "tokens": timed_tokens,
      "tokens_per_s": timed_tokens / max(timed_s, 1e-9),
      "whole": {"wall_s": end - start, "steps_per_s": total / max(end - start, 1e-9),
                "tokens": sum(step_tokens),
                "tokens_per_s": sum(step_tokens) / max(end - start, 1e-9)},
      "windows": windows, "step_tokens": step_tokens,
      "padding_fraction_epoch0": stream.padding_fraction(0),
      "how": (f"eager on {device.type}; nn.LSTM over packed sequences"
              f"{' (cuDNN)' if device.type == 'cuda' else ''}, rows sorted by length on the "
              f"host{', pinned copies' if device.type == 'cuda' else ''}; torch.optim "
              f"{type(opt).__name__}, lr set per step from the config's schedule"
              f"{', clip_grad_norm_' if clip else ''}; torch.set_num_threads "
              f"{torch.get_num_threads()}; TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, "
              f"cuDNN {torch.backends.cudnn.allow_tf32}"),
      "torch": torch.__version__,
      "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
  }


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
  """The flags, and the `--config.key=value` overrides as 'key=value' items."""
  parser = argparse.ArgumentParser(prog="python -m bilstm_jax.bench.torch_trainer",
                                   description=__doc__.split("\n", 1)[0], allow_abbrev=False)
  parser.add_argument("--config", required=True, help="task config, e.g. configs/ud_pos.py[:arg]")
  parser.add_argument("--untimed-steps", type=int, default=5,
                      help="first steps left out of the top-level steps/s and tokens/s")
  parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                      help="auto: cuda where PyTorch sees a GPU, else cpu")
  parser.add_argument("--out", help="also write the JSON here")
  args, rest = parser.parse_known_args(argv)
  bad = [item for item in rest if not item.startswith("--config.") or "=" not in item]
  if bad:
    parser.error(f"unrecognized arguments: {' '.join(bad)} (overrides are --config.KEY=VALUE)")
  return args, [item[len("--config."):] for item in rest]


def main(argv: list[str] | None = None) -> int:
  args, items = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    config = config_lib.load_config(args.config)
    config_lib.apply_overrides(config, dict(config_lib.parse_override(config, item)
                                            for item in items))
    splits, info = data.get_datasets(config.data, None)
    result = train(config, splits, info, args.untimed_steps, args.device)
  except config_lib.ConfigError as err:
    print(f"torch_trainer: error: {err}", file=sys.stderr)
    return 2
  result["command"] = shlex.join(["python", "-m", "bilstm_jax.bench.torch_trainer",
                                 *(sys.argv[1:] if argv is None else argv)])
  result["config"], result["overrides"] = args.config, items
  result["machine"] = provenance.machine()
  text = json.dumps({k: v for k, v in result.items() if k != "step_tokens"}, indent=1)
  if args.out:
    files.atomic_write_text(args.out, json.dumps(result, indent=1))
  print(text)
  return 0


def run() -> None:
  # As bilstm-train decides it (host_memory.py: only where JAX would run on the CPU), so both
  # sides of the comparison run with the same allocator behaviour.
  host_memory.retain_freed_memory()
  # Here JAX only draws the initial weights and the schedule: on the CPU, so that the GPU, its
  # memory and its CUDA libraries are PyTorch's alone.
  jax.config.update("jax_platforms", "cpu")
  # Eager PyTorch never needs triton, and triton's native library crashes a process that has
  # loaded TensorFlow's (the data layer's): its import is made to fail cleanly instead.
  sys.modules.setdefault("triton", None)
  sys.exit(main())


if __name__ == "__main__":
  run()
