"""Defaults shared by every task config, and the `:arg` parser for named variants."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """Every key a run may set; task configs change values, never add keys."""
  config = ml_collections.ConfigDict()

  config.data = ml_collections.ConfigDict()
  config.data.name = "synthetic"  # synthetic | text | speech
  # classification | tagging (text); speech: classification, or with data.format=
  # connected_digits tagging (a label per frame) | transcription (the digit string, CTC)
  config.data.task = "tagging"
  # Where examples come from: a local folder read by a TFDS builder for `format`, or, when
  # source_dir is None, the TFDS catalog dataset `tfds_name` (downloaded once into tfds_data_dir).
  config.data.source_dir = ml_collections.FieldReference(None, field_type=str)
  config.data.format = ml_collections.FieldReference(None, field_type=str)
  # formats: conllu | conll | label_sentence | trec | polarity | audio_folder |
  # connected_digits (digit strings joined from an FSDD-style folder, see below) |
  # sst_trees (the Stanford Sentiment Treebank's bracketed trees, data.sst_classes/sst_phrases)
  config.data.tfds_name = ml_collections.FieldReference(None, field_type=str)
  config.data.tfds_data_dir = ml_collections.FieldReference(None, field_type=str)
  config.data.cache_dir = ml_collections.FieldReference(None, field_type=str)  # None: ~/.cache/bilstm_jax
  config.data.text_field = "text"  # TFDS feature holding the sentence (or token list)
  config.data.label_field = "label"  # TFDS feature / column holding the label(s)
  config.data.label_column = "upos"  # conllu: upos | xpos; conll: a column index, e.g. "-1"
  # Token features beside the word, each embedded (model.feature_embed_dim) and concatenated
  # to it: conll column indices ("1" or "1,2"), conllu "upos" | "xpos" (not the label
  # column), or TFDS token-feature names ("pos" of conll2003). "": none.
  config.data.feature_columns = ""
  # Files named instead of the format's file-name convention: paths or globs, comma-separated,
  # relative to source_dir or absolute; each split's matches are read in sorted order. Split
  # files (conllu, conll, label_sentence, trec): train and test needed, val optional (carved).
  config.data.train_files = ""
  config.data.val_files = ""
  config.data.test_files = ""
  # polarity: "<class>=<files>,...", e.g. "pos=rt-polarity.pos,neg=rt-polarity.neg".
  config.data.class_files = ""
  # sst_trees (the treebank's trainDevTestTrees_PTB.zip): 2 (SST-2: neutral dropped, 0-1
  # negative, 3-4 positive) | 5 (SST-1); with sst_phrases train is every distinct labelled
  # phrase of the training trees, sentences included (val and test: sentences only).
  config.data.sst_classes = 2
  config.data.sst_phrases = True
  config.data.unseen_label = "error"  # a dev/test label unseen in train: error | oov
  config.data.val_fraction = 0.1  # carved from train when a dataset has no validation split
  # Train on this share of the training split (learning curves): a fixed subset, the same for
  # every model and seed, each smaller fraction inside the larger ones; val and test unchanged.
  config.data.train_fraction = 1.0
  config.data.num_folds = 10  # polarity pairs: deterministic k-fold cross-validation
  config.data.fold = 0
  # Text processing; the vocabulary comes from the training split only.
  config.data.lowercase = True
  config.data.min_count = 1
  config.data.max_vocab = 50000
  config.data.word_dropout = 0.0  # training only: tokens replaced by OOV with this probability
  # Training only: a token seen c times in train is also replaced by OOV with probability
  # alpha / (alpha + c) (Kiperwasser & Goldberg 2016), so the OOV embedding learns from rare
  # words, which is what unseen test words resemble; 0 turns it off.
  config.data.word_dropout_alpha = 0.0
  config.data.max_tokens = 0  # truncate longer sequences; 0 keeps them whole
  # Character input for model.char_units (text only): each token's first ceil(W/2) and last
  # floor(W/2) characters when it is longer than W; 0 feeds word ids alone.
  config.data.max_word_chars = 0
  # With data.lowercase: spell the characters from the tokens as written, so the word
  # embeddings share one row per lowercased word while the character encoder still sees case.
  config.data.chars_keep_case = False
  # Speech features (tf.signal), cached on disk once per setting.
  config.data.features = "logmel"  # logmel | mfcc
  config.data.sample_rate = 16000  # expected rate; others are resampled or refused
  config.data.resample = True
  config.data.frame_length_ms = 25.0
  config.data.frame_step_ms = 10.0
  config.data.num_mel_bins = 40
  config.data.num_mfcc = 13
  config.data.deltas = 0  # 0 | 1 | 2 (delta and delta-delta appended)
  config.data.normalize = "utterance"  # utterance | global | none
  config.data.label_regex = r"^(?P<label>[^_]+)_"  # audio_folder without a metadata CSV
  # Batching: each epoch is shuffled, cut into pools of pool_batches batches, each pool sorted
  # by length and cut into batches padded to one of num_buckets bounds (chosen to minimise
  # the training set's padding). batch_size rows per batch, or a token budget (rows = budget
  # // bound) when token_budget > 0. More buckets: less padding, more compiled shapes.
  config.data.num_buckets = 16
  config.data.pool_batches = 256
  config.data.pad_multiple = 1  # round bounds up to a multiple (8 helps GPU/TPU matmuls)
  config.data.token_budget = 0
  # Connected digits (data.format=connected_digits): utterances of 1..max_digits recordings of
  # one speaker joined by gaps; sizes and seed below (train_size/val_size/test_size, seed).
  config.data.min_digits = 1
  config.data.max_digits = 7
  config.data.min_gap_ms = 50.0
  config.data.max_gap_ms = 300.0
  # recording: test from FSDD recordings 0-4, dev 45-49, train 5-44 | speaker: test is every
  # recording of data.heldout_speaker, never heard in training
  config.data.split_rule = "recording"
  config.data.heldout_speaker = ""  # "": the first speaker in sorted order
  # Each recording is trimmed to its first..last 10 ms frame within trim_db of its loudest.
  config.data.trim_db = 40.0
  # The synthetic task (see configs/synthetic.py) and other generated data: seed and sizes.
  config.data.seed = 0
  config.data.vocab_size = 8
  config.data.min_len = 4
  config.data.max_len = 32
  config.data.train_size = 4096
  config.data.val_size = 512
  config.data.test_size = 512

  config.model = ml_collections.ConfigDict()
  config.model.cell = "lstm"  # the only cell (kept: every saved run's config.json names it)
  config.model.embed_dim = 32
  # Pretrained word vectors (GloVe / word2vec text format) for the embedding table; their
  # dimension must equal embed_dim. Vocabulary words the file lacks keep a random row.
  config.model.word_vectors = ml_collections.FieldReference(None, field_type=str)
  # Character-level Bi-LSTM word encoder (needs data.max_word_chars > 0): its final forward and
  # backward states are concatenated to each word embedding. 0 disables it.
  config.model.char_units = 0
  config.model.char_embed_dim = 32
  config.model.feature_embed_dim = 20  # per data.feature_columns column, when there are any
  config.model.units = 64
  config.model.num_layers = 1
  config.model.bidirectional = True
  config.model.merge = "concat"  # concat | sum | mul | ave | none
  config.model.dropout = 0.0  # between stacked layers
  # standard: a new mask at every time step | variational: one mask per sequence and feature,
  # the same at each of its steps (Gal & Ghahramani 2016)
  config.model.dropout_kind = "standard"
  config.model.input_dropout = 0.0
  config.model.output_dropout = 0.0
  # Tagging only: softmax | crf (a linear-chain CRF over the tags: sentence likelihood, Viterbi)
  config.model.head = "softmax"
  # Where a CRF's BIO constraints (I-X only after B-X or I-X, never first) apply:
  # none | decode | train (the loss's partition function too)
  config.model.crf_mask = "decode"
  # Tagging, unidirectional only: the output at step t + d is trained on the label of step t
  # (Graves & Schmidhuber 2005), d zero steps fed after each sequence's end.
  config.model.target_delay = 0
  # The CTC head (data.task='transcription'): the final val/test evaluation also decodes with
  # a prefix beam search of this width (val/label_error_rate_beam); 0: greedy only.
  config.model.ctc_beam_width = 8
  config.model.pooling = "final"  # classification only: final | mean | max | mean_max | attention
  config.model.compute_dtype = "float32"  # bfloat16 on GPU/TPU
  config.model.unroll = 1
  # custom_vjp (the fast default everywhere) | autodiff | cudnn (cuDNN on CUDA GPUs, float32
  # only; the scan elsewhere; slower than custom_vjp on an H200, see docs/performance.md)
  config.model.scan_impl = "custom_vjp"

  config.optim = ml_collections.ConfigDict()
  config.optim.name = "adamw"  # adamw | adam | sgd
  config.optim.learning_rate = 3e-3
  config.optim.weight_decay = 1e-4
  config.optim.b1 = 0.9  # adam, adamw
  config.optim.b2 = 0.999  # adam, adamw
  config.optim.momentum = 0.9  # sgd only (heavy ball); 0: plain SGD
  config.optim.grad_clip_norm = 1.0  # 0 disables clipping
  # Max l2 norm of each output unit's weights in the classifier/tagger head, enforced after
  # every step (Kim 2014 uses 3); 0: off.
  config.optim.head_max_norm = 0.0
  # Exponential moving average of the parameters (Polyak averaging), e.g. 0.99: validation,
  # the best checkpoint and test use the average instead of the last step's parameters. The
  # decay used at step s is min(ema_decay, (1 + s) / (10 + s)). 0: off.
  config.optim.ema_decay = 0.0
  # Label smoothing of the training loss (Szegedy et al. 2016), e.g. 0.1: the target is
  # (1 - s) * one_hot + s / num_classes. Validation and test losses stay unsmoothed. 0: off.
  config.optim.label_smoothing = 0.0

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
  # Picks the best checkpoint (ties: the later step), in the metric's direction: up for
  # accuracy and F1, down for losses and error rates (training/metric_direction.py).
  config.eval_metric = "val/accuracy"
  config.seed = 0

  config.wandb = ml_collections.ConfigDict()
  config.wandb.mode = "auto"  # auto (online with an API key, else offline) | online | offline | disabled
  config.wandb.project = "bilstm_jax"
  config.wandb.entity = ml_collections.FieldReference(None, field_type=str)
  config.wandb.group = ml_collections.FieldReference(None, field_type=str)
  config.wandb.name = ml_collections.FieldReference(None, field_type=str)
  config.wandb.tags = ()
  config.wandb.init_timeout_s = 60.0  # online init gives up after this and logs offline
  return config


def parse_arg(arg: str | None, flags: tuple[str, ...] = ("smoke",)) -> dict:
  """'smoke,fine' -> {'smoke': True, 'fine': True}; anything else is an error.

  Named variants change several fields together; a single field is set with
  --config.<key>=<value> instead.
  """
  parsed = {}
  for item in filter(None, (arg or "").split(",")):
    if item not in flags:
      raise ValueError(f"unknown config variant {item!r}; allowed: {', '.join(flags)} (set "
                       "single fields with --config.<key>=<value>)")
    parsed[item] = True
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
