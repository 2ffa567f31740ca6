"""Per-example predictions at the best checkpoint: `<workdir>/predictions/<split>.npz`.

Written by the final evaluation (training/finish.py) for val and test, atomically, and
rewritten by a resumed run; results.json's "predictions" maps each split to its file. Every
file holds `index` [N] (the example's position in the split as the data layer loads it, so
files of two runs on the same data line up example by example), `label_names`, and by task:

- classification: `gold` [N], `pred` [N] and `probs` [N, C] (float32 softmax);
- tagging (tokens or frames): `lengths` [N] and the flat `gold` / `pred` tags [sum of lengths];
- transcription (CTC): `gold` / `pred` flat label strings with `gold_lengths` / `pred_lengths`
  [N] (greedy decoding), and `beam` / `beam_lengths` when the beam search ran.

Read one back with `load(path)`, which splits the flat arrays into per-example lists.
"""

from __future__ import annotations

import os

import numpy as np

from bilstm_jax import files

DIR = "predictions"


class Collector:
  """Receives a split's predictions batch by batch, in any order; `arrays()` sorts by index."""

  def __init__(self, label_names):
    self.label_names = [str(name) for name in (label_names or [])]
    self.kind = None
    self.items = []  # (index, gold, pred, extra)

  def _set_kind(self, kind: str) -> None:
    if self.kind not in (None, kind):
      raise ValueError(f"a collector of {self.kind} predictions was given {kind} ones")
    self.kind = kind

  def add_classes(self, indices, gold_N, probs_NxC) -> None:
    self._set_kind("classification")
    for i, gold, probs in zip(indices, gold_N, probs_NxC):
      self.items.append((int(i), int(gold), int(np.argmax(probs)), probs.astype(np.float32)))

  def add_tags(self, indices, gold, pred) -> None:
    self._set_kind("tagging")
    for i, g, p in zip(indices, gold, pred):
      self.items.append((int(i), np.asarray(g, np.int32), np.asarray(p, np.int32), None))

  def add_strings(self, indices, gold, pred, beam=None) -> None:
    self._set_kind("transcription")
    beam = beam if beam is not None else [None] * len(gold)
    for i, g, p, b in zip(indices, gold, pred, beam):
      self.items.append((int(i), np.asarray(g, np.int32), np.asarray(p, np.int32),
                         None if b is None else np.asarray(b, np.int32)))

  def arrays(self) -> dict[str, np.ndarray]:
    items = sorted(self.items, key=lambda item: item[0])
    out = {"index": np.array([item[0] for item in items], np.int64),
           "label_names": np.array(self.label_names, dtype=str)}
    if self.kind == "classification":
      out.update(gold=np.array([item[1] for item in items], np.int32),
                 pred=np.array([item[2] for item in items], np.int32),
                 probs=np.stack([item[3] for item in items]) if items
                 else np.zeros((0, len(self.label_names)), np.float32))
    elif self.kind == "tagging":
      out.update(lengths=np.array([len(item[1]) for item in items], np.int32),
                 gold=_flat([item[1] for item in items]), pred=_flat([item[2] for item in items]))
    elif self.kind == "transcription":
      out.update(gold=_flat([item[1] for item in items]),
                 gold_lengths=np.array([len(item[1]) for item in items], np.int32),
                 pred=_flat([item[2] for item in items]),
                 pred_lengths=np.array([len(item[2]) for item in items], np.int32))
      if items and items[0][3] is not None:
        out.update(beam=_flat([item[3] for item in items]),
                   beam_lengths=np.array([len(item[3]) for item in items], np.int32))
    return out


def _flat(seqs) -> np.ndarray:
  return np.concatenate(seqs).astype(np.int32) if seqs else np.zeros(0, np.int32)


def _split(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
  return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def write(workdir: str, split: str, collector: Collector) -> str:
  """Writes <workdir>/predictions/<split>.npz atomically; returns its path relative to workdir."""
  rel = os.path.join(DIR, f"{split}.npz")
  os.makedirs(os.path.join(workdir, DIR), exist_ok=True)
  with files.atomic_open(os.path.join(workdir, rel), "wb") as f:
    np.savez_compressed(f, **collector.arrays())
  return rel


def load(path: str) -> dict:
  """A predictions file as a dict; flat sequences become per-example lists."""
  with np.load(path, allow_pickle=False) as saved:
    out = {key: saved[key] for key in saved.files}
  if "lengths" in out:  # tagging
    out["gold"], out["pred"] = (_split(out[k], out["lengths"]) for k in ("gold", "pred"))
  for key in ("gold", "pred", "beam"):
    if f"{key}_lengths" in out:  # transcription
      out[key] = _split(out[key], out[f"{key}_lengths"])
  return out
