"""Heads over the encoder's outputs: per-token tagging (softmax or CRF) and pooled classification."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from bilstm_jax.core import lstm
from bilstm_jax.models.encoder import Encoder

POOLINGS = ("final", "mean", "max", "mean_max", "attention")
# The per-step output layer: a softmax per token or frame, a linear-chain CRF over the tags, or
# CTC over a label string shorter than the frames (class 0 is CTC's blank).
HEADS = ("softmax", "crf", "ctc")
CRF_MASKS = ("none", "decode", "train")  # where the CRF's BIO constraints apply


def as_array(merged):
  """'none' gives a (fwd, bwd) pair; heads read it concatenated."""
  return jnp.concatenate(merged, axis=-1) if isinstance(merged, tuple) else merged


class Tagger(nn.Module):
  """Per-token logits [B, T, C].

  With crf=True (model.head='crf') the logits are a linear-chain CRF's emission scores, and
  the CRF's own scores live under params['crf']: transitions [C, C] (from row tag to column
  tag), start [C] and end [C], zero at init. The loss and Viterbi decoding read them
  (training/crf_loss.py); the output stays the emissions, so evaluation, checkpoints and the
  rest of the trainer treat both heads alike. A CTC head (model.head='ctc') is this module
  too: its per-frame logits are read by training/ctc_loss.py.

  target_delay = d > 0 (Graves & Schmidhuber 2005's target delay, for a unidirectional model):
  the logit returned for step t is the network's output at step t + d, so the label of step t
  is predicted after seeing d more steps. The last d labels need outputs past the end: each
  sequence is fed d zero steps after its last one (the mean frame after normalisation), so
  every label is predicted exactly once and the output keeps the input's T steps."""
  encoder: Encoder
  num_classes: int
  output_dropout: float = 0.0
  crf: bool = False
  crf_mask: str = "decode"  # read by training/crf_loss.py, not by the module
  target_delay: int = 0

  @nn.compact
  def __call__(self, inputs, lengths_B, *, train: bool = False):
    if self.crf:
      self.param("crf", lambda key: {
          "transitions": jnp.zeros((self.num_classes, self.num_classes), jnp.float32),
          "start": jnp.zeros((self.num_classes,), jnp.float32),
          "end": jnp.zeros((self.num_classes,), jnp.float32)})
    delay, num_steps = self.target_delay, inputs.shape[1]
    if delay:
      valid_BxT = jnp.arange(num_steps)[None, :] < lengths_B[:, None]
      valid = valid_BxT.reshape(valid_BxT.shape + (1,) * (inputs.ndim - 2))
      # Zeroed past each length, whatever the padding held, then d more zero steps for all.
      inputs = jnp.pad(jnp.where(valid, inputs, 0),
                       [(0, 0), (0, delay)] + [(0, 0)] * (inputs.ndim - 2))
      lengths_B = lengths_B + delay
    outputs, _ = self.encoder(inputs, lengths_B, train=train)
    y_BxTxF = as_array(outputs)[:, delay:delay + num_steps]
    y_BxTxF = nn.Dropout(self.output_dropout)(y_BxTxF, deterministic=not train)
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
      pooled_BxF = AttentionPool(name="attention")(as_array(outputs), lengths_B)
    else:
      pooled_BxF = pool(as_array(outputs), state["h"][-1], lengths_B, self.pooling,
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
    return as_array(lstm.resolve_merge(merge_mode)(h_DirxBxH[0], h_DirxBxH[1])).astype(
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
