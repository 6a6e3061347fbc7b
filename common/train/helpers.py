"""Small helpers of the training loop (common.train.trainer): time to checkpoint, finite checks,
stop requests, the progress line."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from absl import logging

from common import cli
from common.errors import NonFiniteError


def is_checkpoint_epoch(
    epoch: int, *, every: int, last: int, milestones: Sequence[int], best: int | None
) -> bool:
    """Whether `epoch` ends with a checkpoint: every `every` epochs (what a killed run resumes
    from), at milestones, at the last epoch, and at a new best (the final test restores it)."""
    return epoch % every == 0 or epoch in milestones or epoch == last or epoch == best


def check_finite(epoch: int, metrics: dict[str, float], last_good: int | None) -> None:
    """Raises NonFiniteError naming the epoch and the values when any metric is NaN or infinite."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise NonFiniteError(
            f"epoch {epoch}: non-finite loss ({names}); training stopped. The last good "
            f"checkpoint (epoch {last_good}) is intact; lower the learning rate and rerun."
        )


@contextlib.contextmanager
def stop_requests() -> Iterator[dict[str, int | None]]:
    """Turns the first SIGTERM / SIGINT into {"signum": it}, a request to stop at the epoch's
    end; a second acts as usual, so a user can force the stop."""
    cli.raise_if_signalled()  # a signal during start-up that an import swallowed
    request: dict[str, int | None] = {"signum": None}
    previous = {}
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield request
        return

    def handler(signum, frame):
        request["signum"] = signum
        logging.warning("Signal %d: stopping after this epoch's checkpoint.", signum)
        for sig, old in previous.items():
            signal.signal(sig, old)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def format_duration(seconds: float) -> str:
    """3725 -> '1h02m05s', 65 -> '1m05s'."""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def progress_line(
    epoch: int,
    num_epochs: int,
    metrics: dict[str, float],
    images_per_epoch: int,
    epoch_walls: Sequence[float],
) -> str:
    """One line per epoch: its metrics, images per second, seconds and the time left.
    `epoch_walls`: this session's epochs from line to line, in seconds; the time left is their
    median times the epochs left, so one epoch through which the machine slept or the process
    was stopped does not put hours on it."""
    seconds = metrics["seconds"]
    shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "seconds")
    eta = statistics.median(epoch_walls) * (num_epochs - epoch) if epoch_walls else 0.0
    return (
        f"epoch {epoch}/{num_epochs}  {shown}  {images_per_epoch / seconds:,.0f} img/s  "
        f"{seconds:.1f}s  ETA {format_duration(eta)}"
    )


def machine_info() -> dict[str, Any]:
    """CPU model and usable cores, jax backend, device kind and count, jax version."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    devices = jax.devices()
    return {
        "cpu": cpu,
        "cores": cores,
        "system": platform.system(),
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "num_devices": len(devices),
        "jax_version": jax.__version__,
    }


class Stopwatch:
    """Where a run's seconds go: `with watch("validation"): ...` adds the body's wall time to
    that phase; `breakdown(total)` names them all, what no phase took as "other"."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - start)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def breakdown(self, total: float) -> dict[str, float]:
        """{phase: seconds, "other": the rest, "total": total}, rounded to 0.01 s."""
        out = {phase: round(s, 2) for phase, s in self.seconds.items()}
        out["other"] = round(max(total - sum(self.seconds.values()), 0.0), 2)
        out["total"] = round(total, 2)
        return out


def format_breakdown(seconds: dict[str, float]) -> str:
    """The breakdown as one aligned line per phase with its share of the total."""
    total = seconds["total"] or 1.0
    width = max(map(len, seconds))
    return "\n".join(
        f"  {phase:<{width}} {value:9.2f} s {100 * value / total:5.1f}%"
        for phase, value in seconds.items()
    )
