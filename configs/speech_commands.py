"""Speech Commands (TFDS `speech_commands`, 12 classes) from log-mel frames.

Run it (downloads once where the network allows; 16 kHz, 1 s clips):
  bilstm-train --config configs/speech_commands.py --workdir runs/speech_commands
A local folder of wav files works with --config.data.source_dir (labels from metadata.csv or
the file names, see data.label_regex). Expected: ~0.90+ test accuracy (GPU recommended).
Variants: `:smoke`, `:mfcc`.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "mfcc"))
  config.data.name = "speech"
  config.data.task = "classification"
  config.data.format = "audio_folder"
  config.data.tfds_name = "speech_commands"
  config.data.label_field = "label"
  config.data.sample_rate = 16000
  config.data.features = "mfcc" if options.get("mfcc") else "logmel"
  config.data.deltas = 2 if options.get("mfcc") else 0
  config.data.num_buckets = 2
  config.model.embed_dim = 128
  config.model.units = 128
  config.model.num_layers = 2
  config.model.dropout = 0.2
  config.model.pooling = "mean"
  config.batch_size = 64
  config.total_steps = 20000
  config.eval_every_steps = 1000
  config.ckpt_every_steps = 500
  config.log_every_steps = 100
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
