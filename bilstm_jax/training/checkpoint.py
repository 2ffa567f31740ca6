"""Orbax checkpoints of the train state: the latest ones for resuming, the best-by-validation one."""

from __future__ import annotations

import logging
import os
from typing import Any, Self

import orbax.checkpoint as ocp


class Checkpoints:
  """`workdir/checkpoints/latest` (newest two kept) and `workdir/checkpoints/best` (one kept).

  Saves are synchronous: when `save` returns, the step directory is complete (orbax writes
  to a temporary name and renames it), so a kill at any moment leaves the previous
  checkpoint intact. Each checkpoint holds the state and a JSON `meta` dict (state.RunState's
  to_dict: data position, best metric so far, accumulated wall time). A context manager:
  leaving it closes both managers.
  """

  def __init__(self, workdir: str):
    root = os.path.join(os.path.abspath(workdir), "checkpoints")
    # A kill mid-save leaves only a *.orbax-checkpoint-tmp* directory, never a step; clean
    # those up on start.
    options = dict(create=True, enable_async_checkpointing=False, cleanup_tmp_directories=True)
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
  def _restore_step(manager, target: Any, step: int):
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return restored["state"], restored["meta"]

  def restore_latest(self, target: Any):
    """(state, meta) of the newest checkpoint that reads back whole, or None when there is none.

    A checkpoint that fails to restore (truncated or damaged files) is skipped with a
    warning naming it, and the one before it is used. The skipped ones are then deleted:
    kept, a damaged step would stop the resumed run from saving that step again (a save of
    an existing step is skipped) and would stay the newest fallback after the next kill.
    """
    steps = sorted(self.latest.all_steps(), reverse=True)
    damaged = []
    for step in steps:
      try:
        restored = self._restore_step(self.latest, target, step)
      except Exception as err:  # pylint: disable=broad-except
        logging.warning("checkpoint %s is unreadable (%s: %s); falling back to the previous one",
                        os.path.join(str(self.latest.directory), str(step)),
                        type(err).__name__, str(err).splitlines()[0][:200])
        print(f"warning: skipped unreadable checkpoint step {step} in {self.latest.directory}",
              flush=True)
        damaged.append(step)
        continue
      for bad in damaged:
        self.latest.delete(bad)
        print(f"warning: deleted unreadable checkpoint step {bad}; the run saves it again",
              flush=True)
      return restored
    if steps:
      raise RuntimeError(f"no readable checkpoint in {self.latest.directory} (tried steps "
                         f"{steps}); move the directory away to start the run afresh")
    return None

  def restore_best(self, target: Any):
    step = self.best.latest_step()
    return None if step is None else self._restore_step(self.best, target, step)

  def close(self) -> None:
    self.latest.close()
    self.best.close()

  def __enter__(self) -> Self:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    self.close()
