"""Connected spoken digits from FSDD recordings: CTC transcription (default) or framewise labels.

Run it (the data folder's fsdd/ holds {digit}_{speaker}_{index}.wav):
  bilstm-train --config configs/connected_digits.py --workdir runs/digits_ctc \\
      --config.data.source_dir=<data>/fsdd
Each utterance joins 1-7 recordings of one speaker with 50-300 ms gaps (8,000 / 1,000 / 1,000
utterances; test from FSDD's test recordings 0-4, dev from 45-49, train from 5-44; see
bilstm_jax/data/builders/connected_digits.py). The first run prepares the utterances and their
features once (a few minutes on 2 CPU cores); later runs read the cache.
Default: a 2-layer Bi-LSTM with a CTC head (Graves et al. 2013): label and sequence error
rates, greedy and prefix beam search (test/label_error_rate, test/label_error_rate_beam); the
best checkpoint by val/label_error_rate.
Variants:
  `:framewise`  a label per frame (10 digits and silence; Graves & Schmidhuber 2005), frame
                error rate; `--config.model.bidirectional=False --config.model.target_delay=6`
                gives the unidirectional LSTM with a 6-frame target delay.
  `:ctc`        the default, named.
  `:speaker_heldout`  test is every recording of one speaker (data.heldout_speaker; the first
                in sorted order by default) that training never hears.
  `:smoke`      a tiny run.
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "framewise", "ctc", "speaker_heldout"))
  if options.get("framewise") and options.get("ctc"):
    raise ValueError("config variants 'framewise' and 'ctc' exclude each other; pick one")
  framewise = options.get("framewise", False)
  config.data.name = "speech"
  config.data.format = "connected_digits"
  config.data.task = "tagging" if framewise else "transcription"
  config.data.sample_rate = 8000
  config.data.features = "logmel"
  config.data.num_mel_bins = 40
  config.data.deltas = 0
  config.data.normalize = "utterance"
  config.data.train_size = 8000
  config.data.val_size = 1000
  config.data.test_size = 1000
  config.data.seed = 0
  config.data.split_rule = "speaker" if options.get("speaker_heldout") else "recording"
  config.model.embed_dim = 64  # the linear projection of each frame
  config.model.units = 96
  config.model.num_layers = 1 if framewise else 2
  config.model.input_dropout = 0.1
  config.model.output_dropout = 0.2
  config.model.head = "softmax" if framewise else "ctc"
  config.model.ctc_beam_width = 8
  config.batch_size = 32
  config.total_steps = 2000
  config.eval_every_steps = 250
  config.ckpt_every_steps = 250
  config.log_every_steps = 50
  config.optim.learning_rate = 3e-3
  config.eval_metric = "val/frame_error_rate" if framewise else "val/label_error_rate"
  if options.get("smoke"):
    common.apply_smoke(config)
    config.data.train_size, config.data.val_size, config.data.test_size = 16, 8, 8
  config.lock()
  return config
