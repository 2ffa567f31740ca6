"""Defaults shared by every task config, and the `:arg` parser for named variants."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """Every key a run may set; task configs change values, never add keys."""
  config = ml_collections.ConfigDict()

  config.data = ml_collections.ConfigDict()
  config.data.name = "synthetic"
  config.data.source_dir = ml_collections.FieldReference(None, field_type=str)
  config.data.seed = 0
  config.data.vocab_size = 8
  config.data.min_len = 4
  config.data.max_len = 32
  config.data.train_size = 4096
  config.data.val_size = 512
  config.data.test_size = 512

  config.model = ml_collections.ConfigDict()
  config.model.cell = "lstm"
  config.model.embed_dim = 32
  config.model.units = 64
  config.model.num_layers = 1
  config.model.bidirectional = True
  config.model.merge = "concat"  # concat | sum | mul | ave | none
  config.model.dropout = 0.0  # between stacked layers
  config.model.input_dropout = 0.0
  config.model.output_dropout = 0.0
  config.model.pooling = "final"  # classification only: final | mean | max
  config.model.compute_dtype = "float32"  # bfloat16 on GPU/TPU
  config.model.unroll = 1

  config.optim = ml_collections.ConfigDict()
  config.optim.name = "adamw"  # adamw | adam | sgd
  config.optim.learning_rate = 3e-3
  config.optim.weight_decay = 1e-4
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.grad_clip_norm = 1.0  # 0 disables clipping

  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "cosine"  # cosine | constant (both after a linear warm-up)
  config.schedule.warmup_steps = 50
  config.schedule.final_lr_fraction = 0.0

  config.batch_size = 64
  config.eval_batch_size = 256
  config.total_steps = 600
  config.log_every_steps = 50
  config.eval_every_steps = 200
  config.ckpt_every_steps = 200
  config.eval_metric = "val/accuracy"  # higher is better; picks the best checkpoint
  config.seed = 0

  config.wandb = ml_collections.ConfigDict()
  config.wandb.mode = "auto"  # auto (online with an API key, else offline) | online | offline | disabled
  config.wandb.project = "bilstm_jax"
  config.wandb.entity = ml_collections.FieldReference(None, field_type=str)
  config.wandb.group = ml_collections.FieldReference(None, field_type=str)
  config.wandb.name = ml_collections.FieldReference(None, field_type=str)
  config.wandb.tags = ()
  return config


def parse_arg(arg: str | None, flags: tuple[str, ...] = ("smoke",)) -> dict:
  """'smoke,units=32' -> {'smoke': True, 'units': '32'}; unknown flags are an error."""
  parsed = {}
  for item in filter(None, (arg or "").split(",")):
    name, sep, value = item.partition("=")
    if not sep and name not in flags:
      raise ValueError(f"unknown config variant {name!r}; allowed: {', '.join(flags)} "
                       "or key=value")
    parsed[name] = value if sep else True
  return parsed


def apply_smoke(config: ml_collections.ConfigDict) -> None:
  """A tiny batch, model and step count: a CPU run in well under a minute."""
  config.model.embed_dim = 8
  config.model.units = 8
  config.batch_size = 8
  config.eval_batch_size = 16
  config.total_steps = 4
  config.log_every_steps = 2
  config.eval_every_steps = 2
  config.ckpt_every_steps = 2
  config.schedule.warmup_steps = 1
