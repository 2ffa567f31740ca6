"""The CTC head's loss, decodings and error rates (model.head='ctc', data.task='transcription').

The model outputs per-frame logits over blank (class 0) and the labels; a batch holds the
label strings as labels [B, L] with label_lengths [B] (data/batching.py). The loss is the mean
negative log-likelihood per utterance. An utterance whose label string cannot be aligned in its
frames (it needs more frames than it has) adds nothing to the loss and is counted as
'skipped': its likelihood is zero, so any loss it gave would be a huge constant or a NaN.

Error rates are sums over a split: label error rate = (sum of edit distances) / (sum of
reference lengths), not a mean of per-utterance rates; sequence error rate = the share of
utterances decoded wrongly. Greedy (best-path) decoding runs on the device; the prefix beam
search (model.ctc_beam_width) runs on the host.
"""

from __future__ import annotations

import jax.numpy as jnp

from bilstm_jax.core import ctc

BLANK = 0


def greedy(logits, lengths):
  """Best-path tokens [B, T] (-1 past each token length) and token lengths [B]."""
  return ctc.greedy_decode(logits.astype(jnp.float32), lengths, blank=BLANK)


def _same_as_labels(tokens_BxT, token_lengths_B, labels_BxL, label_lengths_B):
  """[B] bool: the decoded string equals the label string."""
  num_labels, num_steps = labels_BxL.shape[1], tokens_BxT.shape[1]
  if num_steps < num_labels:  # shapes are static: pad the tokens to compare position by position
    tokens_BxT = jnp.pad(tokens_BxT, ((0, 0), (0, num_labels - num_steps)), constant_values=-1)
  tokens_BxL = tokens_BxT[:, :num_labels]
  beyond_BxL = jnp.arange(num_labels)[None, :] >= label_lengths_B[:, None]
  return (token_lengths_B == label_lengths_B) & jnp.all(
      (tokens_BxL == labels_BxL) | beyond_BxL, axis=1)


def loss_and_sums(logits, batch):
  """Mean negative log-likelihood per alignable utterance (for the gradient) and the sums the
  metrics are built from: loss_sum and 'sentences' (alignable utterances, so split/loss is per
  utterance), correct_sum over count (utterances whose greedy decoding is exactly right, so
  split/accuracy = 1 - the greedy sequence error rate) and 'skipped'."""
  nll_B, feasible_B = ctc.ctc_loss(logits, batch["lengths"], batch["labels"],
                                   batch["label_lengths"], blank=BLANK)
  mask_B = batch["mask"].astype(jnp.float32)
  weight_B = mask_B * feasible_B.astype(jnp.float32)
  utterances = jnp.sum(weight_B)
  tokens_BxT, token_lengths_B = greedy(logits, batch["lengths"])
  right_B = _same_as_labels(tokens_BxT, token_lengths_B, batch["labels"], batch["label_lengths"])
  sums = {"loss_sum": jnp.sum(nll_B * weight_B), "sentences": utterances,
          "correct_sum": jnp.sum(right_B.astype(jnp.float32) * mask_B),
          "count": jnp.sum(mask_B), "skipped": jnp.sum(mask_B) - utterances}
  return sums["loss_sum"] / jnp.maximum(utterances, 1.0), sums


def error_rates(refs, hyps, split: str, suffix: str = "") -> dict[str, float]:
  """{'split/label_error_rate<suffix>', 'split/sequence_error_rate<suffix>'} of the decoded
  strings `hyps` against `refs` (label id lists)."""
  counts = ctc.error_counts(refs, hyps)
  return {
      f"{split}/label_error_rate{suffix}": counts["edits"] / max(counts["ref_length"], 1),
      f"{split}/sequence_error_rate{suffix}":
          counts["sequence_errors"] / max(counts["sequences"], 1),
  }


def metric_names(split: str, beam: bool) -> list[str]:
  names = list(error_rates([], [], split))
  if beam:
    names += list(error_rates([], [], split, "_beam"))
  return names
