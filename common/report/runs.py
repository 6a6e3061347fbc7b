"""A finished (or stopped) run read back from its workdir, as reports and the experiments see
it: the config, the metric rows, the final row and the record of the sessions that trained it."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from common.experiments import plans
from common.report.markdown import machine_label
from common.train import helpers, metric_writer, run_files
from common.train import workdir as workdir_lib


@dataclasses.dataclass
class Run:
    """A run as its workdir holds it."""

    workdir: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]  # per-epoch rows, in order
    final: dict[str, Any] | None  # the final row, once training finished
    record: dict[str, Any]  # read_record

    @property
    def kind(self) -> str:
        return self.config.get("model", "vae")

    @property
    def last_epoch(self) -> int | None:
        return self.rows[-1]["epoch"] if self.rows else None

    @property
    def sessions(self) -> list[dict[str, Any]]:
        return self.record.get("sessions", [])

    @property
    def latest(self) -> dict[str, Any]:
        """The latest session's record (epoch scale, overrides, data), {} if none."""
        return self.sessions[-1] if self.sessions else {}

    def row(self, epoch: int) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["epoch"] == epoch), None)


def read_record(workdir: str) -> dict[str, Any]:
    """{"sessions": [...]}: common.experiments.reproduce's record of who trained `workdir`."""
    path = os.path.join(workdir, run_files.RECORD)
    if not os.path.exists(path):
        return {"sessions": []}
    with open(path) as f:
        return json.load(f)


def load_run(workdir: str) -> Run | None:
    """The run in `workdir`, or None when it holds none yet."""
    needed = (run_files.CONFIG, run_files.METRICS)
    if not all(os.path.exists(os.path.join(workdir, name)) for name in needed):
        return None
    all_rows = metric_writer.read_metrics(workdir)
    rows = [r for r in all_rows if "epoch" in r]
    final = all_rows[-1] if all_rows and "epoch" not in all_rows[-1] else None
    config = json.loads(
        workdir_lib.load_config(workdir).to_json_best_effort()
    )  # older runs' fields filled
    return Run(workdir, config, rows, final, read_record(workdir))


def sample_epochs(run: Run) -> list[tuple[int, list[int]]]:
    """[(epoch of this run, [assignment epochs it stands for])] for the grids, in order."""
    pairs = run.latest.get("sample_epochs")
    if pairs is None:  # not run by common.experiments.reproduce: the config's epochs, unscaled
        pairs = [(e, e) for e in run.config.get("sample_epochs", ())]
    grouped: dict[int, list[int]] = {}
    for assignment_epoch, epoch in pairs:
        grouped.setdefault(epoch, []).append(assignment_epoch)
    return sorted(grouped.items())


def assignment_epochs(run: Run) -> int:
    """The epochs the assignment's schedule asks for (the config's before any scaling)."""
    return run.latest.get("config_num_epochs", run.config.get("num_epochs"))


def status(run: Run | None) -> str:
    if run is None:
        return "not run"
    target = run.config.get("num_epochs")
    if run.final is not None and run.last_epoch == target:
        return "complete"
    return f"stopped after epoch {run.last_epoch} of {target} (rerun to resume)"


def seed_runs(root: str, name: str) -> list[Run]:
    """The runs of experiment `name` at other seeds: ROOT/NAME-seedS, by seed."""
    found = []
    for path in plans.seed_dirs(root, name):
        run = load_run(path)
        if run is not None and run.final is not None:
            found.append(run)
    return sorted(found, key=lambda r: r.config.get("seed", 0))


def machines(run: Run) -> list[str]:
    """The distinct machine labels of the sessions that trained, oldest first."""
    out: list[str] = []
    for session in run.sessions:
        label = machine_label(session.get("machine"))
        if label not in out:
            out.append(label)
    return out


def timed_sessions(run: Run) -> tuple[float, int]:
    """(the sessions' wall-clock seconds summed, how many ended before recording their time)."""
    timed = [s["wall_s"] for s in run.sessions if s.get("wall_s") is not None]
    return sum(timed), len(run.sessions) - len(timed)


def sessions_wall_clock(run: Run) -> str:
    """'8m44s', or '13m16s + 1 untimed session'."""
    seconds, untimed = timed_sessions(run)
    text = helpers.format_duration(seconds)
    return f"{text} + {untimed} untimed session{'s' if untimed > 1 else ''}" if untimed else text
