"""The encoder: token embedding or frame projection, optional character encoder, the Bi-LSTM."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bilstm_jax.core import lstm


class BiLSTM(nn.Module):
  """The core as a module: its params are exactly `lstm.init_params`'s pytree under 'lstm'."""
  units: int
  num_layers: int = 1
  bidirectional: bool = True
  merge_mode: str = "concat"
  dropout_rate: float = 0.0
  dropout_kind: str = "standard"
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
                       dropout_kind=self.dropout_kind, compute_dtype=self.compute_dtype,
                       return_state=True, unroll=self.unroll, scan_impl=self.scan_impl)


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

  With token features (F = len(feature_vocab_sizes)) and/or a `chars` encoder the int inputs
  are [B, T, 1 + F + W]: the word id, its F feature ids, then its W characters; each feature
  column has its own embedding table, and all are concatenated to the word embedding.
  Returns the core's (outputs, state).
  """
  vocab_size: int | None
  embed_dim: int
  lstm: BiLSTM
  input_dropout: float = 0.0
  chars: CharWordEncoder | None = None
  embed_init: Any = nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)
  feature_vocab_sizes: tuple[int, ...] = ()
  feature_embed_dim: int = 20

  @nn.compact
  def __call__(self, inputs, lengths_B, *, train: bool):
    num_features = len(self.feature_vocab_sizes)
    if self.vocab_size is None:
      x_BxTxE = nn.Dense(self.embed_dim, name="project")(inputs)
    elif self.chars is None and not num_features:
      x_BxTxE = nn.Embed(self.vocab_size, self.embed_dim, embedding_init=self.embed_init,
                         name="embed")(inputs)
    else:
      parts = [nn.Embed(self.vocab_size, self.embed_dim, embedding_init=self.embed_init,
                        name="embed")(inputs[..., 0])]
      parts += [nn.Embed(size, self.feature_embed_dim, name=f"feature_embed_{f}")(
                    inputs[..., 1 + f]) for f, size in enumerate(self.feature_vocab_sizes)]
      if self.chars is not None:
        parts.append(self.chars(inputs[..., 1 + num_features:], train=train))
      x_BxTxE = jnp.concatenate(parts, axis=-1)
    x_BxTxE = nn.Dropout(self.input_dropout)(x_BxTxE, deterministic=not train)
    return self.lstm(x_BxTxE, lengths_B, train=train)
