"""One writer for metrics: TensorBoard events plus `metrics.jsonl` (a JSON row per epoch and a
final row without `epoch`: what resuming, plots and reports read). Keys carry their split
(`train_*`, `val_*`, `test_*`; tags `train/*`, ...); `seconds`, `best_epoch` skip TensorBoard.

Events go through tensorboardX's event writer in this thread, not clu's (it imports TensorFlow)
nor tensorboardX's SummaryWriter, whose own thread a full disk kills, leaving every later write
waiting on its full queue for ever.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import numpy as np
from absl import logging
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog

from common import errors, files
from common.errors import CheckpointError
from common.train import run_files

SPLITS = ("train", "val", "test")

# Workdirs written before both models shared one naming scheme hold the AAE's training metrics
# without their split prefix: read (and rewritten on resume) with it.
_OLD_AAE_KEYS = ("recon_loss", "gen_loss", "ae_loss", "disc_loss", "disc_accuracy")


def tensorboard_tag(key: str) -> str | None:
    """`train_bpd` -> `train/bpd`, `val_bpd` -> `val/bpd`; None for keys without a split."""
    split, _, name = key.partition("_")
    return f"{split}/{name}" if split in SPLITS and name else None


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    """The rows of `workdir/metrics.jsonl` in order; [] if there is none."""
    path = os.path.join(workdir, run_files.METRICS)
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else e
        raise CheckpointError(
            f"{path} cannot be read ({type(e).__name__}: {why}); move it away (the run's "
            "checkpoints are intact: training resumes without its rows)"
        ) from None
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            rows.append(row)
        except ValueError:
            if i < len(lines) - 1:
                raise CheckpointError(
                    f"{path}: line {i + 1} is not a metrics row; the file is damaged: delete "
                    "that line (its epoch's numbers are lost, the run's checkpoints are intact)"
                ) from None
            # A run killed while appending leaves half a line: the epoch it was writing is
            # trained again on resume (its checkpoint was written after the row).
            logging.warning("%s: ignoring the half-written last line.", path)
    return [{("train_" + k if k in _OLD_AAE_KEYS else k): v for k, v in r.items()} for r in rows]


def cut_back(workdir: str, epoch: int | None) -> None:
    """Keeps the rows of epochs up to `epoch` (resuming: each epoch recorded once); None removes
    them all (starting over)."""
    path = os.path.join(workdir, run_files.METRICS)
    if epoch is None:
        if os.path.exists(path):
            os.remove(path)
        return
    kept = [r for r in read_metrics(workdir) if r.get("epoch", np.inf) <= epoch]
    files.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class MetricWriter:
    """Scalars and images to TensorBoard, scalars appended to metrics.jsonl (already
    `cut_back`). `resume_epoch` (None: a new run) hides the later steps an interrupted run
    wrote; `enabled` False (all processes but the first) writes nothing."""

    def __init__(self, workdir: str, resume_epoch: int | None = None, enabled: bool = True):
        self.workdir = workdir
        self.path = os.path.join(workdir, run_files.METRICS)
        self.enabled = enabled
        self.rows: list[dict[str, Any]] = []  # what metrics.jsonl holds, kept to draw curves
        self._lock = threading.Lock()  # the pictures' thread writes images beside the loop
        if not enabled:
            return
        self.rows = read_metrics(workdir)
        self._events_path = os.path.join(workdir, run_files.EVENTS)  # (tensorboardX names it)
        with errors.writing(self._events_path):
            self._events = EventsWriter(os.path.join(workdir, run_files.EVENTS_PREFIX))
            if resume_epoch is not None:  # TensorBoard hides what an interrupted run wrote later
                start = SessionLog(status=SessionLog.START)
                self._events.write_event(Event(step=resume_epoch + 1, session_log=start))

    def write_scalars(self, epoch: int, scalars: dict[str, float]) -> None:
        """Appends the row `{"epoch": epoch, **scalars}`; TensorBoard gets them at step epoch."""
        self._write({"epoch": int(epoch)}, epoch, scalars)

    def write_final(self, epoch: int, scalars: dict[str, float]) -> None:
        """Appends the final row (no `epoch` key); TensorBoard gets it at the last epoch."""
        self._write({}, epoch, scalars)

    def _write(self, row: dict[str, Any], step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        row.update({k: None if v is None else float(v) for k, v in scalars.items()})
        with errors.writing(self.path), open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.rows.append(row)
        tagged = {tensorboard_tag(k): v for k, v in scalars.items() if v is not None}
        self._add_events(
            step, [summary.scalar(tag, float(v)) for tag, v in tagged.items() if tag is not None]
        )

    def write_image(self, step: int, tag: str, image: np.ndarray) -> None:
        """image: [H, W, C] float in [0, 1]."""
        if not self.enabled:
            return
        self._add_events(step, [summary.image(tag, np.clip(image, 0, 1), dataformats="HWC")])

    def write_hparams(self, hparams: dict[str, Any]) -> None:
        if not self.enabled:
            return
        text = "\n".join(f"    {k}: {v}" for k, v in sorted(hparams.items()))
        self._add_events(0, [summary.text("config", text)])

    def _add_events(self, step: int, summaries: list) -> None:
        """Writes the summaries at `step` and flushes them to disk."""
        with self._lock, errors.writing(self._events_path):
            for one in summaries:
                self._events.write_event(Event(wall_time=time.time(), step=step, summary=one))
            self._events.flush()

    def history(self) -> list[dict[str, Any]]:
        """The rows written so far; [] where disabled (other processes write nothing from it)."""
        return list(self.rows)

    def close(self) -> None:
        if self.enabled:
            with self._lock, errors.writing(self._events_path):
                self._events.close()
