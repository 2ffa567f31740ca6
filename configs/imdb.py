"""IMDB movie-review sentiment (TFDS `imdb_reviews`; a local polarity folder works too).

Run it:
  bilstm-train --config configs/imdb.py --workdir runs/imdb
Reviews are truncated to data.max_tokens. Expected: ~0.85 test accuracy (GPU recommended;
~1 h on 2 CPU cores). Variants: `:smoke`.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg)
  config.data.name = "text"
  config.data.task = "classification"
  config.data.format = "polarity"
  config.data.tfds_name = "imdb_reviews"
  config.data.text_field = "text"
  config.data.label_field = "label"
  config.data.max_tokens = 400
  config.data.max_vocab = 30000
  config.data.min_count = 2
  config.data.token_budget = 8192
  config.model.embed_dim = 128
  config.model.units = 128
  config.model.pooling = "max"
  config.model.input_dropout = 0.3
  config.model.output_dropout = 0.3
  config.batch_size = 32
  config.total_steps = 3000
  config.eval_every_steps = 500
  config.ckpt_every_steps = 250
  config.log_every_steps = 50
  if options.get("smoke"):
    common.apply_smoke(config)
    config.data.token_budget = 0
  config.lock()
  return config
