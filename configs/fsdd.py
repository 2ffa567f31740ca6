"""Free Spoken Digit Dataset: 10 digits from log-mel (or `:mfcc`) frames.

Run it (a local copy with metadata.csv, or TFDS `spoken_digit`; test = recordings 0-4):
  bilstm-train --config configs/fsdd.py --workdir runs/fsdd \\
      --config.data.source_dir=<data>/fsdd
Validation: 10% of the training recordings, carved with a fixed seed.
Expected on 2 CPU cores: ~4 min; test accuracy ~0.97-0.99.
Variants: `:smoke`, `:mfcc`.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "mfcc"))
  config.data.name = "speech"
  config.data.task = "classification"
  config.data.format = "audio_folder"
  config.data.tfds_name = "spoken_digit"
  config.data.label_field = "digit"  # metadata.csv column (the TFDS dataset has `label`)
  config.data.sample_rate = 8000
  config.data.features = "mfcc" if options.get("mfcc") else "logmel"
  config.data.deltas = 2 if options.get("mfcc") else 0
  config.data.normalize = "utterance"
  config.model.embed_dim = 64  # the linear projection of each frame
  config.model.units = 64
  config.model.pooling = "mean"
  config.model.input_dropout = 0.1
  config.model.output_dropout = 0.2
  config.batch_size = 32
  config.total_steps = 2000  # ~26 epochs of 2,430 utterances
  config.eval_every_steps = 200
  config.ckpt_every_steps = 200
  config.log_every_steps = 50
  config.optim.learning_rate = 3e-3
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
