"""Sentence polarity pairs (e.g. rt-polarity.pos/.neg, or any <class>.txt files).

No official split: deterministic k-fold cross-validation, the fold is a config field.
Run it:
  bilstm-train --config configs/polarity.py --workdir runs/mr_fold0 \\
      --config.data.source_dir=/path/to/rt-polaritydata --config.data.fold=0
Class files under other names: --config.data.class_files='pos=good/*.txt,neg=bad/*.txt'
(`<class>=<file or glob>`, relative to data.source_dir; each class's matches in sorted order).
Variants: `:smoke`.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg)
  config.data.name = "text"
  config.data.task = "classification"
  config.data.format = "polarity"
  config.data.num_folds = 10
  config.data.fold = 0
  config.model.embed_dim = 100
  config.model.units = 128
  config.model.pooling = "final"
  config.model.input_dropout = 0.4
  config.model.output_dropout = 0.4
  config.batch_size = 32
  config.total_steps = 1500
  config.eval_every_steps = 150
  config.ckpt_every_steps = 150
  config.log_every_steps = 50
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
