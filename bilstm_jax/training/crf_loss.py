"""The CRF head's loss and predictions: sentence negative log-likelihood and Viterbi tags.

A tagger built with model.head='crf' keeps its CRF scores under params['crf'] (models/heads.py)
and outputs emission scores; these functions turn them into what metrics.loss_and_sums and the
argmax give the softmax head.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from bilstm_jax.core import crf
from bilstm_jax.training import metrics


@dataclasses.dataclass(frozen=True, eq=False)
class CRFSpec:
  """The BIO constraints (allowed [K, K], start_allowed [K], end_allowed [K]) for the loss and
  for decoding; None where that step is unconstrained."""
  train_masks: tuple[np.ndarray, np.ndarray, np.ndarray] | None
  decode_masks: tuple[np.ndarray, np.ndarray, np.ndarray] | None


def crf_spec(model, info: dict) -> CRFSpec | None:
  """The spec of a model built with model.head='crf' (None for any other head); `info` is the
  dataset's.

  model.crf_mask: 'none' (no constraints), 'decode' (Viterbi never outputs I-X after O or after
  another type, nor first) or 'train' (the same constraints in the loss's partition function
  too, so no probability is spent on impossible paths). Only tags the data layer found to be
  BIO (info['scheme'] == 'bio', as the span scores use) are constrained."""
  if not getattr(model, "crf", False):
    return None
  masks = None
  if model.crf_mask != "none" and info.get("scheme") == "bio":
    masks = crf.bio_allowed_transitions(list(info["label_names"]))
  return CRFSpec(train_masks=masks if model.crf_mask == "train" else None,
                 decode_masks=masks)


def _scores(params):
  scores = params["crf"]
  return scores["transitions"], scores["start"], scores["end"]


def predict(emissions, params, lengths, spec: CRFSpec):
  """Viterbi tags [B, T] int32 (0 beyond each length)."""
  tags, _ = crf.crf_decode(emissions.astype(jnp.float32), lengths, *_scores(params),
                           *(spec.decode_masks or ()))
  return tags


def loss_and_sums(emissions, params, batch, spec: CRFSpec, decode: bool = False):
  """Mean negative log-likelihood per sentence (for the gradient) and the sums of
  metrics.loss_and_sums, plus 'sentences' so that split/loss is per sentence too.

  accuracy: of the Viterbi tags with decode=True (evaluation); of the per-token argmax of the
  emissions otherwise (training, which then runs no Viterbi pass)."""
  log_likelihood_B = crf.crf_log_likelihood(
      emissions.astype(jnp.float32), batch["labels"], batch["lengths"], *_scores(params),
      *(spec.train_masks or ()))
  mask_B = batch["mask"].astype(jnp.float32)
  nll_sum = -jnp.sum(log_likelihood_B * mask_B)
  sentences = jnp.sum(mask_B)
  if decode:
    tags = predict(emissions, params, batch["lengths"], spec)
  else:
    tags = jnp.argmax(emissions, axis=-1)
  weights = metrics.example_weights(batch)
  sums = {"loss_sum": nll_sum,
          "correct_sum": jnp.sum((tags == batch["labels"]).astype(jnp.float32) * weights),
          "count": jnp.sum(weights), "sentences": sentences}
  return nll_sum / jnp.maximum(sentences, 1.0), sums
