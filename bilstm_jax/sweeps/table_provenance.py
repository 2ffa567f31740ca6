"""Where a table came from: every run's command, time and machine, beside the table files.

`<name>.runs.csv` has one line per planned run (its `bilstm-train` command re-runs that one
row); `<name>.about.md` has the commands that rebuild the whole table, the total and elapsed
time, the machines and the code versions, all read from the runs' results.json.
"""

from __future__ import annotations

import datetime
import shlex

import pandas as pd

from bilstm_jax.sweeps import spec as sweep_lib


def _machine_text(machine: dict | None) -> str:
  if not machine:
    return "unknown (results.json predates machine records)"
  return (f"{machine.get('cpu')} ({machine.get('cpu_count')} logical CPUs), "
          f"{machine.get('backend')}: {machine.get('devices')}, jax {machine.get('jax')}, "
          f"Python {machine.get('python')}")


def runs_frame(frame: pd.DataFrame, runs: list[sweep_lib.Run], name: str) -> pd.DataFrame:
  """The table's run frame (tables.collect) with the machine as text and each run's command
  (the `bilstm-train` command the sweep runner executes for that row)."""
  by_index = {run.index: run for run in runs}
  out = frame.reset_index(drop=True).copy()
  out["machine"] = [_machine_text(machine) if status == "done" else None
                    for machine, status in zip(out["machine"], out["status"])]
  out["command"] = [shlex.join(["bilstm-train", *sweep_lib.train_args(by_index[i], name)])
                    for i in out["index"]]
  return out


def _duration(seconds: float) -> str:
  minutes = seconds / 60
  return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.2f} h"


def about_markdown(name: str, runs: pd.DataFrame, commands: list[str]) -> str:
  done = runs[runs["status"] == "done"]
  lines = [f"# How `{name}` was made", "", "Rebuild the whole table (finished runs are skipped):",
           "", "```", *commands, "```", "",
           f"Re-run one row: its `command` in `{name}.runs.csv` (the run directory must be new).",
           ""]
  if done.empty:
    return "\n".join(lines + ["No run has finished yet."]) + "\n"
  total = float(done["wall_time_s"].sum())
  start = float((done["finished_at"] - done["wall_time_s"]).min())
  end = float(done["finished_at"].max())
  stamp = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  lines += [f"- runs: {len(done)} of {len(runs)} finished, last at {stamp}",
            (f"- compute: {_duration(total)} summed over runs; {_duration(end - start)} from "
             "the first run's start to the last run's end"),
            "- machine: " + "; ".join(sorted(done["machine"].dropna().unique())),
            "- code: " + ", ".join(f"`{c[:12]}`" for c in sorted(done["git_commit"].dropna()
                                                                  .unique()))]
  return "\n".join(lines) + "\n"


def write_provenance(base: str, name: str, frame: pd.DataFrame, runs: list[sweep_lib.Run],
                     commands: list[str]) -> list[str]:
  """Writes <base>.runs.csv and <base>.about.md; returns their paths."""
  runs = runs_frame(frame, runs, name)
  columns = ["run_name", "seed", "status", "value", "wall_time_s", "git_commit", "machine",
             "command"]
  runs[columns].to_csv(base + ".runs.csv", index=False)
  with open(base + ".about.md", "w") as f:
    f.write(about_markdown(name, runs, commands))
  return [base + ".runs.csv", base + ".about.md"]

