"""SST-2 sentence-level binary sentiment (Kim 2014 splits locally; TFDS `glue/sst2`).

Run it:
  bilstm-train --config configs/sst2.py --workdir runs/sst2 \\
      --config.data.source_dir=<data>/sst/stsa.binary
The local folder holds several file sets, so source_dir names one by its prefix (stsa.binary
or stsa.fine; `:fine` sets the 5-class task up for the latter).
Without source_dir it reads TFDS `glue/sst2` (phrase-level train; its validation set becomes
the test set because GLUE hides test labels).
Expected on 2 CPU cores: ~4 min; test accuracy ~0.80-0.83.
`:trees` reads the treebank itself (data.format=sst_trees, source_dir <data>/sst, the folder
holding trainDevTestTrees_PTB.zip) and trains on every labelled phrase of the training trees
(data.sst_phrases; dev and test are whole sentences), as Kim 2014 and Tai et al. 2015 do;
`:trees,fine` is SST-1 (5 classes).
Variants: `:smoke`, `:fine`, `:trees`.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "fine", "trees"))
  config.data.name = "text"
  config.data.task = "classification"
  config.data.format = "label_sentence"
  config.data.tfds_name = "glue/sst2"
  config.data.text_field = "sentence"
  config.data.label_field = "label"
  config.data.lowercase = True
  config.model.embed_dim = 100
  config.model.units = 128
  config.model.pooling = "final"
  config.model.input_dropout = 0.4
  config.model.output_dropout = 0.4
  config.batch_size = 32
  config.total_steps = 1300  # ~6 epochs of 6,920 sentences
  config.eval_every_steps = 100
  config.ckpt_every_steps = 100
  config.log_every_steps = 50
  config.schedule.warmup_steps = 100
  config.optim.learning_rate = 1e-3
  config.optim.weight_decay = 1e-3
  if options.get("trees"):
    config.data.format = "sst_trees"
    config.data.sst_classes = 5 if options.get("fine") else 2
    config.data.sst_phrases = True
    # ~77,000 (SST-2) or ~157,000 (SST-1) distinct phrases, most of them a few words long.
    config.total_steps = 6000
    config.eval_every_steps = 500
    config.ckpt_every_steps = 500
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
