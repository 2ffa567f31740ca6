"""Sweep rows whose config trains the very model of another row: run once, shown as `= <row>`."""

from __future__ import annotations

import json


def twin(flat: dict) -> tuple[dict, str] | None:
  """(the flat-config changes that give the same model, why), or None when there are none.

  The rules hold for every model models.build_model makes: the two runs share their
  parameters, outputs and gradients bit for bit (tests/test_sweep.py builds each head both ways).
  """
  merge = flat.get("model.merge")
  if not flat.get("model.bidirectional", True):
    if merge != "concat":  # one direction: the core never merges
      return {"model.merge": "concat"}, "forward-only: the merge mode is never used"
    return None
  if merge == "none":
    # 'none' hands the head the (forward, backward) pair, and every head reads it concatenated
    # (models/heads.py `_as_array`; 'final' pooling merges the last states the same way); the
    # stacked layers below concatenate for 'none' as well.
    return ({"model.merge": "concat"},
            "merge 'none': every head reads the forward and backward outputs concatenated")
  return None


def _key(flat: dict) -> str:
  return json.dumps(flat, sort_keys=True, default=str)


def find(flats: list[dict]) -> dict[int, tuple[int, str]]:
  """{row: (the row it repeats, why)} for rows whose twin is itself a row of the sweep."""
  first = {}
  for i, flat in enumerate(flats):
    first.setdefault(_key(flat), i)
  found = {}
  for i, flat in enumerate(flats):
    match = twin(flat)
    if match is not None:
      changes, why = match
      j = first.get(_key({**flat, **changes}))
      if j is not None:
        found[i] = (j, why)
  return found
