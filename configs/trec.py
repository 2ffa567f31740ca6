"""TREC question classification (6 coarse classes; `:fine` for 50) with a Bi-LSTM.

Run it (TFDS catalog `trec`, downloaded once; or the local files with source_dir):
  bilstm-train --config configs/trec.py --workdir runs/trec \\
      --config.data.source_dir=<data>/trec
Expected on 2 CPU cores: ~1-2 min; test accuracy ~0.89-0.90 (coarse).
Mean pooling, 300-dim random embeddings and dropout 0.5 on both sides of the LSTM (as Kim
2014's CNN-rand): the 4,907 training questions are memorised within two epochs, so the
regularisation is what moves the test score.
Variants: `:smoke`, `:fine`. TREC has no validation split: 10% of train is carved off.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "fine"))
  config.data.name = "text"
  config.data.task = "classification"
  config.data.format = "trec"
  config.data.tfds_name = "trec"
  config.data.text_field = "text"
  config.data.label_field = "label-fine" if options.get("fine") else "label-coarse"
  config.data.lowercase = True
  config.model.embed_dim = 300
  config.model.units = 128
  config.model.pooling = "mean"
  config.model.input_dropout = 0.5
  config.model.output_dropout = 0.5
  config.batch_size = 32
  config.total_steps = 1500  # ~10 epochs of the 4,907 training questions
  config.eval_every_steps = 150
  config.ckpt_every_steps = 150
  config.log_every_steps = 50
  config.schedule.warmup_steps = 100
  config.optim.learning_rate = 2e-3
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
