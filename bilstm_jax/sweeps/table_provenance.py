"""Where a table came from: every run's command, time and machine, beside the table files.

`<name>.runs.csv` has one line per planned run (its `bilstm-train` command re-runs that one
row); `<name>.about.md` has the commands that rebuild the whole table, the total and elapsed
time, the machines and the code versions (the commit, and whether it had uncommitted edits),
all read from the runs' results.json (provenance.py wrote them).
"""

from __future__ import annotations

import datetime
import shlex

import pandas as pd

from bilstm_jax import files, provenance
from bilstm_jax.sweeps import plan


def _machine_text(machine: dict | None) -> str:
  if not machine:
    return "unknown (results.json predates machine records)"
  return (f"{machine.get('cpu')} ({machine.get('cpu_count')} logical CPUs), "
          f"{machine.get('backend')}: {machine.get('devices')}, jax {machine.get('jax')}, "
          f"Python {machine.get('python')}")


def runs_frame(frame: pd.DataFrame, runs: list[plan.Run], name: str) -> pd.DataFrame:
  """The table's planned runs (tables.collect, less the rows that repeat another row's model)
  with the machine as text and each run's command (the `bilstm-train` command the sweep runner
  executes for that row)."""
  by_index = {run.index: run for run in runs}
  out = frame[frame["planned"] > 0].reset_index(drop=True).copy()
  out["machine"] = [_machine_text(machine) if status == "done" else None
                    for machine, status in zip(out["machine"], out["status"])]
  out["command"] = [shlex.join(["bilstm-train", *plan.train_args(by_index[i], name)])
                    for i in out["index"]]
  return out


def _code_text(commit: str, dirty) -> str:
  """'`0123456789ab`', plus whether the run's tree had uncommitted edits when it recorded it."""
  if dirty is None or pd.isna(dirty):
    return f"`{commit[:12]}` (edits not recorded)"
  return f"`{commit[:12]}`" + (" with uncommitted edits" if dirty else "")


def _duration(seconds: float) -> str:
  minutes = seconds / 60
  return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.2f} h"


def about_markdown(name: str, runs: pd.DataFrame, commands: list[str], repeats: int = 0,
                   table_code: dict | None = None) -> str:
  """`repeats`: how many sweep rows were not run because they repeat another row's model."""
  done = runs[runs["status"] == "done"]
  lines = [f"# How `{name}` was made", "", "Rebuild the whole table (finished runs are skipped):",
           "", "```", *commands, "```", "",
           f"Re-run one row: its `command` in `{name}.runs.csv` (the run directory must be new).",
           ""]
  # Read before any table file is written (by write_provenance's caller), so a table rebuilt
  # over its own committed files does not call its code edited.
  table_code = table_code or provenance.git_commit()
  built = f"- table: built by the code at {_code_text(table_code['commit'], table_code['dirty'])}"
  if done.empty:
    return "\n".join(lines + ["No run has finished yet.", "", built]) + "\n"
  total = float(done["wall_time_s"].sum())
  start = float((done["finished_at"] - done["wall_time_s"]).min())
  end = float(done["finished_at"].max())
  stamp = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  lines += [f"- runs: {len(done)} of {len(runs)} finished, last at {stamp}",
            (f"- compute: {_duration(total)} summed over runs; {_duration(end - start)} from "
             "the first run's start to the last run's end"),
            "- machine: " + "; ".join(sorted(done["machine"].dropna().unique())),
            "- code: " + ", ".join(sorted({_code_text(commit, dirty) for commit, dirty in
                                           zip(done["git_commit"], done["git_dirty"])
                                           if isinstance(commit, str)}))]
  if repeats:
    lines.append(f"- not run: {repeats} rows that train the very model of another row (`= ...` "
                 "in the table)")
  return "\n".join(lines + [built]) + "\n"


def write_provenance(base: str, name: str, frame: pd.DataFrame, runs: list[plan.Run],
                     commands: list[str], values: list[str] | None = None,
                     significance: list[str] | None = None,
                     table_code: dict | None = None) -> list[str]:
  """Writes <base>.runs.csv and <base>.about.md (atomically: files.py); returns their paths.
  `frame` has one row per run (tables.per_run); `values` names its value columns;
  `significance` is about.md's section on the tests (table_significance.report_lines)."""
  planned = runs_frame(frame, runs, name)
  columns = ["run_name", "seed", "status", *(values or ["value"]), "wall_time_s", "git_commit",
             "git_dirty", "machine", "command"]
  with files.atomic_open(base + ".runs.csv") as f:
    planned[columns].to_csv(f, index=False)
  repeats = int((frame["planned"] == 0).sum())
  about = about_markdown(name, planned, commands, repeats, table_code)
  if significance:
    about += "\n" + "\n".join(significance) + "\n"
  files.atomic_write_text(base + ".about.md", about)
  return [base + ".runs.csv", base + ".about.md"]
