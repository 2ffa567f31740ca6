"""Evaluation over whole splits: sums and counts on device, means and span F1 on the host."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from bilstm_jax.core import ctc
from bilstm_jax.data import batching
from bilstm_jax.training import crf_loss, ctc_loss, metrics, parallel
from bilstm_jax.training import predictions as predictions_lib
from bilstm_jax.training import spans as spans_lib


def make_eval_fns(apply_fn, coarse_of=None, crf: crf_loss.CRFSpec | None = None,
                  ctc: bool = False):
  """(sums_fn, predict_fn, log_probs_fn), all jitted: masked sums for every task (with the
  coarse accuracy when coarse_of maps fine labels to coarse ids); the tags spans are read from
  (the argmax, or with a CRF head (crf, from crf_loss.crf_spec) its Viterbi path, which its
  accuracy uses too), or with a CTC head (ctc) the greedy (tokens, token lengths); and the
  per-frame log-probabilities the CTC beam search reads."""

  def logits_of(params, batch):
    return apply_fn({"params": params}, batch["inputs"], batch["lengths"], train=False)

  def sums(params, batch):
    if ctc:
      return ctc_loss.loss_and_sums(logits_of(params, batch), batch)[1]
    if crf is not None:
      return crf_loss.loss_and_sums(logits_of(params, batch), params, batch, crf, decode=True)[1]
    return metrics.loss_and_sums(logits_of(params, batch), batch, coarse_of)[1]

  def predict(params, batch):
    if ctc:
      return ctc_loss.greedy(logits_of(params, batch), batch["lengths"])
    if crf is not None:
      return crf_loss.predict(logits_of(params, batch), params, batch["lengths"], crf)
    return jnp.argmax(logits_of(params, batch), axis=-1)

  def log_probs(params, batch):
    return jax.nn.log_softmax(logits_of(params, batch).astype(jnp.float32), axis=-1)

  return jax.jit(sums), jax.jit(predict), jax.jit(log_probs)


def metric_names(info: dict, split: str, coarse: bool, beam: bool = False) -> list[str]:
  """The keys `evaluate` returns for `split` (with `beam`: a CTC head's beam-search rates
  too), known before any evaluation runs (so a wrong config.eval_metric is refused before the
  run directory is written)."""
  # Named by the functions that make them, on empty sums, so the two cannot drift apart.
  sums = {"loss_sum": 0.0, "correct_sum": 0.0, "count": 0.0}
  if coarse:
    sums["coarse_correct_sum"] = 0.0
  if info.get("task") == "transcription":
    sums["skipped"] = 0.0
  names = list(metrics.summarize(sums, split))
  if info.get("frames"):
    names.append(f"{split}/frame_error_rate")
  if info.get("scheme") == "bio":
    names += list(spans_lib.span_prf(collections.Counter(correct=0, gold=0, pred=0), split))
  if info.get("task") == "transcription":
    names += ctc_loss.metric_names(split, beam)
  return names


def _gathered(x) -> np.ndarray:
  """A device array as numpy, gathered from every process."""
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _transcripts(predicted, batch, log_probs_fn, params, placed, beam_width: int):
  """(references, greedy strings, beam strings or None) of the batch's real rows."""
  tokens, token_lengths = (_gathered(x) for x in predicted)
  rows = np.flatnonzero(batch["mask"])
  refs = [batch["labels"][r, :batch["label_lengths"][r]].tolist() for r in rows]
  greedy = [tokens[r, :token_lengths[r]].tolist() for r in rows]
  beam = None
  if beam_width:
    log_probs = _gathered(log_probs_fn(params, placed))
    beam = [ctc.prefix_beam_search(log_probs[r, :batch["lengths"][r]], beam_width,
                                            blank=ctc_loss.BLANK)[0] for r in rows]
  return refs, greedy, beam


def evaluate(eval_fns, params, dataset, *, batch_size: int, boundaries, split: str, mesh,
             info: dict, beam_width: int = 0,
             keep: predictions_lib.Collector | None = None) -> dict[str, float]:
  """Every example of `dataset` once (padding rows masked); loss/accuracy means, and span
  precision/recall/F1 when the tags are BIO (info['scheme'] == 'bio'), the frame error rate
  of framewise labels (info['frames']), and label/sequence error rates of transcriptions
  (greedy, and with beam_width > 0 the prefix beam search's as well). `keep` receives every
  example's prediction (training/predictions.py)."""
  sums_fn, predict_fn, log_probs_fn = eval_fns
  spans = info.get("scheme") == "bio"  # per-type F1 too: split/span_f1_<TYPE>
  transcribe = info.get("task") == "transcription"
  per_step = spans or info.get("task") == "tagging"  # tags per token or frame
  label_names = info.get("label_names")
  totals = None
  counts = collections.Counter()
  refs, greedy, beam = [], [], []
  for members, batch in batching.indexed_eval_batches(dataset, batch_size, boundaries):
    placed = parallel.shard_batch(batch, mesh)
    sums = sums_fn(params, placed)
    totals = sums if totals is None else jax.tree_util.tree_map(jnp.add, totals, sums)
    rows = np.flatnonzero(batch["mask"])
    if transcribe:
      batch_refs, batch_greedy, batch_beam = _transcripts(
          predict_fn(params, placed), batch, log_probs_fn, params, placed, beam_width)
      refs += batch_refs
      greedy += batch_greedy
      beam += batch_beam or []
      if keep is not None:
        keep.add_strings(members, batch_refs, batch_greedy, batch_beam)
    elif per_step and (spans or keep is not None):
      preds = _gathered(predict_fn(params, placed))
      for row in rows:
        n = batch["lengths"][row]
        if spans:
          gold = [label_names[t] for t in batch["labels"][row, :n]]
          pred = [label_names[t] for t in preds[row, :n]]
          counts.update(spans_lib.span_counts(gold, pred))
      if keep is not None:
        keep.add_tags(members, [batch["labels"][r, :batch["lengths"][r]] for r in rows],
                      [preds[r, :batch["lengths"][r]] for r in rows])
    elif keep is not None:  # classification: the class and its probabilities
      probs = np.exp(_gathered(log_probs_fn(params, placed)))
      keep.add_classes(members, batch["labels"][rows], probs[rows])
  results = metrics.summarize(jax.device_get(totals), split)
  if info.get("frames"):
    results[f"{split}/frame_error_rate"] = 1.0 - results[f"{split}/accuracy"]
  if spans:
    results.update(spans_lib.span_prf(counts, split))
  if transcribe:
    results.update(ctc_loss.error_rates(refs, greedy, split))
    if beam_width:
      results.update(ctc_loss.error_rates(refs, beam, split, "_beam"))
  return results
