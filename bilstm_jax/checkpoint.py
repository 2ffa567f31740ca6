"""Orbax checkpoints of the train state: the latest ones for resuming, the best-by-validation one."""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp


class Checkpoints:
  """`workdir/checkpoints/latest` (newest two kept) and `workdir/checkpoints/best` (one kept).

  Saves are synchronous: when `save` returns, the step directory is complete (orbax writes
  to a temporary name and renames it), so a kill at any moment leaves the previous
  checkpoint intact. Each checkpoint holds the state and a JSON `meta` dict (data position,
  best metric so far, accumulated wall time).
  """

  def __init__(self, workdir: str):
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    options = dict(create=True, enable_async_checkpointing=False)
    self.latest = ocp.CheckpointManager(
        os.path.join(root, "latest"), options=ocp.CheckpointManagerOptions(max_to_keep=2, **options))
    self.best = ocp.CheckpointManager(
        os.path.join(root, "best"), options=ocp.CheckpointManagerOptions(max_to_keep=1, **options))

  @staticmethod
  def _save(manager, step: int, state: Any, meta: dict) -> None:
    if step in manager.all_steps():
      return
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               meta=ocp.args.JsonSave(meta)))
    manager.wait_until_finished()

  def save_latest(self, step: int, state: Any, meta: dict) -> None:
    self._save(self.latest, step, state, meta)

  def save_best(self, step: int, state: Any, meta: dict) -> None:
    self._save(self.best, step, state, meta)

  @staticmethod
  def _restore(manager, target: Any, step: int | None = None):
    step = manager.latest_step() if step is None else step
    if step is None:
      return None
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return restored["state"], restored["meta"]

  def restore_latest(self, target: Any):
    """(state, meta) of the newest checkpoint, or None when there is none."""
    return self._restore(self.latest, target)

  def restore_best(self, target: Any):
    return self._restore(self.best, target)

  def close(self) -> None:
    self.latest.close()
    self.best.close()
