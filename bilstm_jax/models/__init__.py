"""Flax linen modules over the pure core: encoder, classification and tagging heads."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bilstm_jax.config import ConfigError
from bilstm_jax.core import lstm

POOLINGS = ("final", "mean", "max", "mean_max", "attention")


def _as_array(merged):
  """'none' gives a (fwd, bwd) pair; heads read it concatenated."""
  return jnp.concatenate(merged, axis=-1) if isinstance(merged, tuple) else merged


class BiLSTM(nn.Module):
  """The core as a module: its params are exactly `lstm.init_params`'s pytree under 'lstm'."""
  units: int
  num_layers: int = 1
  bidirectional: bool = True
  merge_mode: str = "concat"
  dropout_rate: float = 0.0
  compute_dtype: Any = jnp.float32
  unroll: int = 1
  scan_impl: str = "custom_vjp"

  @nn.compact
  def __call__(self, x_BxTxD, lengths_B, *, train: bool):
    params = self.param(
        "lstm", lambda key: lstm.init_params(key, x_BxTxD.shape[-1], self.units, self.num_layers,
                                             bidirectional=self.bidirectional,
                                             merge_mode=self.merge_mode))
    use_dropout = train and self.dropout_rate > 0.0 and self.num_layers > 1
    return lstm.bilstm(params, x_BxTxD, lengths_B, self.merge_mode,
                       dropout_rate=self.dropout_rate if use_dropout else 0.0,
                       dropout_rng=self.make_rng("dropout") if use_dropout else None,
                       compute_dtype=self.compute_dtype, return_state=True, unroll=self.unroll,
                       scan_impl=self.scan_impl)


class CharWordEncoder(nn.Module):
  """Each word spelled by a character Bi-LSTM: [B, T, W] char ids -> [B, T, 2 * units].

  All B*T words go through the core as one batch of W-step sequences (their character counts
  are the lengths; padding words have length 0 and give zeros). The forward state after the
  last character and the backward state after the first one are concatenated, as in Plank et
  al. 2016 and Lample et al. 2016.
  """
  char_vocab_size: int
  embed_dim: int
  lstm: BiLSTM

  @nn.compact
  def __call__(self, chars_BxTxW, *, train: bool):
    batch, steps, width = chars_BxTxW.shape
    chars_NxW = chars_BxTxW.reshape(batch * steps, width)
    lengths_N = jnp.sum(chars_NxW > 0, axis=-1).astype(jnp.int32)
    x_NxWxE = nn.Embed(self.char_vocab_size, self.embed_dim, name="embed")(chars_NxW)
    _, state = self.lstm(x_NxWxE, lengths_N, train=train)
    h_DirxNxH = state["h"][-1]
    word_NxF = jnp.concatenate(list(h_DirxNxH), axis=-1)
    return word_NxF.reshape(batch, steps, -1)


class Encoder(nn.Module):
  """Token embedding (int inputs) or a linear projection of frames (float inputs), then BiLSTM.

  With a `chars` encoder the int inputs are [B, T, 1 + W]: the word id, then its characters.
  """
  vocab_size: int | None
  embed_dim: int
  lstm: BiLSTM
  input_dropout: float = 0.0
  chars: CharWordEncoder | None = None
  embed_init: Any = nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)

  @nn.compact
  def __call__(self, inputs, lengths_B, *, train: bool):
    if self.vocab_size is None:
      x_BxTxE = nn.Dense(self.embed_dim, name="project")(inputs)
    elif self.chars is None:
      x_BxTxE = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=self.embed_init,
                         name="embed")(inputs)
    else:
      words_BxTxE = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=self.embed_init,
                             name="embed")(inputs[..., 0])
      x_BxTxE = jnp.concatenate([words_BxTxE, self.chars(inputs[..., 1:], train=train)], axis=-1)
    x_BxTxE = nn.Dropout(self.input_dropout)(x_BxTxE, deterministic=not train)
    return self.lstm(x_BxTxE, lengths_B, train=train)


class Tagger(nn.Module):
  """Per-token logits [B, T, C]."""
  encoder: Encoder
  num_classes: int
  output_dropout: float = 0.0

  @nn.compact
  def __call__(self, inputs, lengths_B, *, train: bool = False):
    outputs, _ = self.encoder(inputs, lengths_B, train=train)
    y_BxTxF = nn.Dropout(self.output_dropout)(_as_array(outputs), deterministic=not train)
    return nn.Dense(self.num_classes, name="head")(y_BxTxF)


class Classifier(nn.Module):
  """Sequence logits [B, C] from outputs pooled over valid steps."""
  encoder: Encoder
  num_classes: int
  pooling: str = "final"
  merge_mode: str = "concat"
  output_dropout: float = 0.0

  @nn.compact
  def __call__(self, inputs, lengths_B, *, train: bool = False):
    outputs, state = self.encoder(inputs, lengths_B, train=train)
    if self.pooling == "attention":
      pooled_BxF = AttentionPool(name="attention")(_as_array(outputs), lengths_B)
    else:
      pooled_BxF = pool(_as_array(outputs), state["h"][-1], lengths_B, self.pooling,
                        self.merge_mode)
    pooled_BxF = nn.Dropout(self.output_dropout)(pooled_BxF, deterministic=not train)
    return nn.Dense(self.num_classes, name="head")(pooled_BxF)


class AttentionPool(nn.Module):
  """Additive self-attention over the valid steps (Yang et al. 2016; Lin et al. 2017):
  score_t = v . tanh(W y_t + b), a softmax over the valid steps only, and the weighted sum of
  the outputs. A learned summary instead of a fixed one, so a question's wh-word or a review's
  verdict can outweigh the rest; 0 for an empty sequence."""

  @nn.compact
  def __call__(self, y_BxTxF, lengths_B):
    hidden_BxTxF = jnp.tanh(nn.Dense(y_BxTxF.shape[-1], name="project")(y_BxTxF))
    score_BxT = nn.Dense(1, use_bias=False, name="score")(hidden_BxTxF)[..., 0]
    valid_BxT = jnp.arange(y_BxTxF.shape[1])[None, :] < lengths_B[:, None]
    # Softmax in float32 whatever the compute dtype; masked steps get exactly 0 weight.
    score_BxT = jnp.where(valid_BxT, score_BxT.astype(jnp.float32), -jnp.inf)
    top_Bx1 = jnp.max(jnp.where(valid_BxT, score_BxT, -1e30), axis=1, keepdims=True)
    weight_BxT = jnp.where(valid_BxT, jnp.exp(score_BxT - top_Bx1), 0.0)
    weight_BxT = weight_BxT / jnp.maximum(jnp.sum(weight_BxT, axis=1, keepdims=True), 1e-30)
    y_BxTxF = jnp.where(valid_BxT[:, :, None], y_BxTxF, 0)  # 0 x inf would still be nan
    return jnp.einsum("bt,btf->bf", weight_BxT.astype(y_BxTxF.dtype), y_BxTxF)


def pool(y_BxTxF, h_DirxBxH, lengths_B, pooling: str, merge_mode: str):
  """'final': last states merged like the outputs (forward at the last valid step, backward at
  the first token); 'mean' / 'max' over valid steps only (0 for an empty sequence);
  'mean_max' the two concatenated.
  'attention' has parameters and lives in AttentionPool."""
  valid_BxTx1 = (jnp.arange(y_BxTxF.shape[1])[None, :] < lengths_B[:, None])[:, :, None]
  if pooling == "final":
    if h_DirxBxH.shape[0] == 1:
      return h_DirxBxH[0].astype(y_BxTxF.dtype)
    return _as_array(lstm.resolve_merge(merge_mode)(h_DirxBxH[0], h_DirxBxH[1])).astype(
        y_BxTxF.dtype)
  if pooling == "mean":
    total = jnp.sum(jnp.where(valid_BxTx1, y_BxTxF, 0), axis=1)
    return total / jnp.maximum(lengths_B, 1)[:, None].astype(total.dtype)
  if pooling == "max":
    top = jnp.max(jnp.where(valid_BxTx1, y_BxTxF, -jnp.inf), axis=1)
    return jnp.where((lengths_B > 0)[:, None], top, 0).astype(y_BxTxF.dtype)
  if pooling == "mean_max":  # both, side by side (as in ULMFiT's concat pooling)
    return jnp.concatenate([pool(y_BxTxF, h_DirxBxH, lengths_B, name, merge_mode)
                            for name in ("mean", "max")], axis=-1)
  raise ValueError(f"unknown pooling {pooling!r}; allowed: {', '.join(POOLINGS)}")


def build_model(model_cfg, info: dict, word_vectors=None) -> nn.Module:
  """The only place that reads config.model; `info` comes from the dataset.

  word_vectors: an optional [vocab_size, embed_dim] array that initialises the embedding table
  (see data/word_vectors.py).
  """
  check_model_config(model_cfg, info)
  compute_dtype = jnp.dtype(model_cfg.compute_dtype)
  core = BiLSTM(units=model_cfg.units, num_layers=model_cfg.num_layers,
                bidirectional=model_cfg.bidirectional, merge_mode=model_cfg.merge,
                dropout_rate=model_cfg.dropout, compute_dtype=compute_dtype,
                unroll=model_cfg.unroll, scan_impl=model_cfg.scan_impl)
  chars = None
  if model_cfg.char_units:
    chars = CharWordEncoder(info["char_vocab_size"], model_cfg.char_embed_dim,
                            BiLSTM(units=model_cfg.char_units, compute_dtype=compute_dtype,
                                   unroll=model_cfg.unroll, scan_impl=model_cfg.scan_impl))
  extra = {}
  if word_vectors is not None:
    table = jnp.asarray(word_vectors, jnp.float32)
    extra["embed_init"] = lambda key, shape, dtype=jnp.float32: table.astype(dtype)
  encoder = Encoder(vocab_size=info["vocab_size"], embed_dim=model_cfg.embed_dim, lstm=core,
                    input_dropout=model_cfg.input_dropout, chars=chars, **extra)
  if info["task"] == "tagging":
    return Tagger(encoder, info["num_classes"], output_dropout=model_cfg.output_dropout)
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
  if model_cfg.pooling not in POOLINGS:
    raise ConfigError(f"config key model.pooling: unknown pooling {model_cfg.pooling!r}; "
                     f"allowed: {', '.join(POOLINGS)}")
  if model_cfg.cell != "lstm":
    raise ConfigError(f"config key model.cell: unknown cell {model_cfg.cell!r}; allowed: lstm")
  for key in ("dropout", "input_dropout", "output_dropout"):
    if not 0.0 <= model_cfg[key] < 1.0:
      raise ConfigError(f"config key model.{key} must be in [0, 1), got {model_cfg[key]!r}")
  if model_cfg.compute_dtype not in ("float32", "bfloat16", "float16"):
    raise ConfigError(f"config key model.compute_dtype: {model_cfg.compute_dtype!r}; allowed: "
                     "float32, bfloat16, float16")
  if model_cfg.scan_impl not in lstm.SCAN_IMPLS:
    raise ConfigError(f"config key model.scan_impl: {model_cfg.scan_impl!r}; allowed: "
                      f"{', '.join(lstm.SCAN_IMPLS)}")
  if model_cfg.scan_impl == "cudnn" and model_cfg.compute_dtype != "float32":
    raise ConfigError("config key model.scan_impl='cudnn' runs float32 only; got "
                      f"model.compute_dtype={model_cfg.compute_dtype!r}")
  if not isinstance(model_cfg.char_units, int) or model_cfg.char_units < 0:
    raise ConfigError("config key model.char_units must be 0 (no character encoder) or a "
                      f"positive integer, got {model_cfg.char_units!r}")
  if info is None:
    return
  has_chars = bool(info.get("char_vocab_size"))
  if model_cfg.char_units and not has_chars:
    raise ConfigError(f"config key model.char_units={model_cfg.char_units} needs character "
                      "input: set data.max_word_chars > 0 (text data only)")
  if has_chars and not model_cfg.char_units:
    raise ConfigError("the data has character input (data.max_word_chars > 0) but config key "
                      "model.char_units=0; set model.char_units > 0 or data.max_word_chars=0")
  if model_cfg.word_vectors and info.get("vocab_size") is None:
    raise ConfigError("config key model.word_vectors is for text data (token embeddings); this "
                      "data has no vocabulary")
