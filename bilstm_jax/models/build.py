"""build_model: the only reader of config.model; it checks the section, then assembles modules."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from bilstm_jax.config import ConfigError
from bilstm_jax.core import lstm
from bilstm_jax.models.encoder import BiLSTM, CharWordEncoder, Encoder
from bilstm_jax.models.heads import CRF_MASKS, HEADS, POOLINGS, Classifier, Tagger

# Tasks whose model outputs one distribution per input step: a tag per token or frame, or a
# transcription's per-frame CTC distribution.
PER_STEP_TASKS = ("tagging", "transcription")


def build_model(model_cfg, info: dict, word_vectors=None) -> nn.Module:
  """The only place that reads config.model; `info` comes from the dataset.

  word_vectors: an optional [vocab_size, embed_dim] array that initialises the embedding table
  (see data/word_vectors.py).
  """
  check_model_config(model_cfg, info)
  compute_dtype = jnp.dtype(model_cfg.compute_dtype)
  core = BiLSTM(units=model_cfg.units, num_layers=model_cfg.num_layers,
                bidirectional=model_cfg.bidirectional, merge_mode=model_cfg.merge,
                dropout_rate=model_cfg.dropout, dropout_kind=model_cfg.dropout_kind,
                compute_dtype=compute_dtype, unroll=model_cfg.unroll,
                scan_impl=model_cfg.scan_impl)
  chars = None
  if model_cfg.char_units:
    chars = CharWordEncoder(info["char_vocab_size"], model_cfg.char_embed_dim,
                            BiLSTM(units=model_cfg.char_units, compute_dtype=compute_dtype,
                                   unroll=model_cfg.unroll, scan_impl=model_cfg.scan_impl))
  extra = {}
  if word_vectors is not None:
    table = jnp.asarray(word_vectors, jnp.float32)
    extra["embed_init"] = lambda key, shape, dtype=jnp.float32: table.astype(dtype)
  feature_vocab_sizes = tuple(info.get("feature_vocab_sizes") or ())
  if feature_vocab_sizes:  # read only then: the default model is exactly as before the key
    extra.update(feature_vocab_sizes=feature_vocab_sizes,
                 feature_embed_dim=model_cfg.feature_embed_dim)
  encoder = Encoder(vocab_size=info["vocab_size"], embed_dim=model_cfg.embed_dim, lstm=core,
                    input_dropout=model_cfg.input_dropout, chars=chars, **extra)
  if info["task"] in PER_STEP_TASKS:
    return Tagger(encoder, info["num_classes"], output_dropout=model_cfg.output_dropout,
                  crf=model_cfg.head == "crf", crf_mask=model_cfg.crf_mask,
                  target_delay=model_cfg.target_delay)
  return Classifier(encoder, info["num_classes"], pooling=model_cfg.pooling,
                    merge_mode=model_cfg.merge, output_dropout=model_cfg.output_dropout)


def num_cores(model_cfg) -> int:
  """How many Bi-LSTM cores (`lstm.init_params` calls) build_model makes: the word or frame
  core, plus the character encoder's."""
  return 1 + bool(model_cfg.char_units)


def check_model_config(model_cfg, info: dict | None = None) -> None:
  """One clear error per bad model field, naming the config key and what is allowed; with the
  dataset's `info`, also the fields that must agree with the data."""
  for key in ("units", "num_layers", "embed_dim", "char_embed_dim"):
    value = model_cfg[key]
    if not isinstance(value, int) or value <= 0:
      raise ConfigError(f"config key model.{key} must be a positive integer, got {value!r}")
  if model_cfg.merge not in lstm.MERGE_MODES:
    raise ConfigError(f"config key model.merge: unknown merge mode {model_cfg.merge!r}; "
                      f"allowed: {', '.join(lstm.MERGE_MODES)}")
  if model_cfg.head not in HEADS:
    raise ConfigError(f"config key model.head: unknown head {model_cfg.head!r}; allowed: "
                      f"{', '.join(HEADS)}")
  if model_cfg.crf_mask not in CRF_MASKS:
    raise ConfigError(f"config key model.crf_mask: {model_cfg.crf_mask!r}; allowed: "
                      f"{', '.join(CRF_MASKS)}")
  if model_cfg.pooling not in POOLINGS:
    raise ConfigError(f"config key model.pooling: unknown pooling {model_cfg.pooling!r}; "
                      f"allowed: {', '.join(POOLINGS)}")
  # The only cell; the key stays because every saved run's config.json holds it.
  if model_cfg.cell != "lstm":
    raise ConfigError(f"config key model.cell: unknown cell {model_cfg.cell!r}; allowed: lstm")
  for key in ("dropout", "input_dropout", "output_dropout"):
    if not 0.0 <= model_cfg[key] < 1.0:
      raise ConfigError(f"config key model.{key} must be in [0, 1), got {model_cfg[key]!r}")
  if model_cfg.dropout_kind not in lstm.DROPOUT_KINDS:
    raise ConfigError(f"config key model.dropout_kind: unknown dropout kind "
                      f"{model_cfg.dropout_kind!r}; allowed: {', '.join(lstm.DROPOUT_KINDS)}")
  if model_cfg.compute_dtype not in ("float32", "bfloat16", "float16"):
    raise ConfigError(f"config key model.compute_dtype: {model_cfg.compute_dtype!r}; allowed: "
                      "float32, bfloat16, float16")
  if model_cfg.scan_impl not in lstm.SCAN_IMPLS:
    raise ConfigError(f"config key model.scan_impl: {model_cfg.scan_impl!r}; allowed: "
                      f"{', '.join(lstm.SCAN_IMPLS)}")
  if model_cfg.scan_impl == "cudnn" and model_cfg.compute_dtype != "float32":
    raise ConfigError("config key model.scan_impl='cudnn' runs float32 only; got "
                      f"model.compute_dtype={model_cfg.compute_dtype!r}")
  delay = model_cfg.target_delay
  if not isinstance(delay, int) or delay < 0:
    raise ConfigError(f"config key model.target_delay must be an integer >= 0, got {delay!r}")
  if delay and model_cfg.bidirectional:
    raise ConfigError(f"config key model.target_delay={delay} is for unidirectional models "
                      "(a backward direction already sees every later step): set "
                      "model.bidirectional=False or model.target_delay=0")
  if not isinstance(model_cfg.ctc_beam_width, int) or model_cfg.ctc_beam_width < 0:
    raise ConfigError("config key model.ctc_beam_width must be 0 (greedy decoding only) or a "
                      f"positive integer, got {model_cfg.ctc_beam_width!r}")
  if not isinstance(model_cfg.char_units, int) or model_cfg.char_units < 0:
    raise ConfigError("config key model.char_units must be 0 (no character encoder) or a "
                      f"positive integer, got {model_cfg.char_units!r}")
  if info is None:
    return
  task = info.get("task")
  if model_cfg.head == "crf" and task != "tagging":
    raise ConfigError("config key model.head='crf' is for tagging tasks (one label per token); "
                      f"this data's task is {task!r}: use model.head='softmax'")
  if (model_cfg.head == "ctc") != (task == "transcription"):
    raise ConfigError(f"config key model.head={model_cfg.head!r}: model.head='ctc' is the one "
                      "head for transcription (a label string shorter than the frames, "
                      f"data.task='transcription'); this data's task is {task!r}")
  if model_cfg.target_delay and task != "tagging":
    raise ConfigError(f"config key model.target_delay={model_cfg.target_delay} is for tagging "
                      f"(one label per step); this data's task is {task!r}")
  has_chars = bool(info.get("char_vocab_size"))
  if model_cfg.char_units and not has_chars:
    raise ConfigError(f"config key model.char_units={model_cfg.char_units} needs character "
                      "input: set data.max_word_chars > 0 (text data only)")
  if has_chars and not model_cfg.char_units:
    raise ConfigError("the data has character input (data.max_word_chars > 0) but config key "
                      "model.char_units=0; set model.char_units > 0 or data.max_word_chars=0")
  if info.get("feature_vocab_sizes"):
    value = model_cfg.feature_embed_dim
    if not isinstance(value, int) or value <= 0:
      raise ConfigError("config key model.feature_embed_dim must be a positive integer (the data "
                        f"has token features, data.feature_columns), got {value!r}")
  if model_cfg.word_vectors and info.get("vocab_size") is None:
    raise ConfigError("config key model.word_vectors is for text data (token embeddings); this "
                      "data has no vocabulary")
