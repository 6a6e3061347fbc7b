"""The training-loop skeleton shared by the VAE and the AAE.

A model package supplies a `Task` (how to initialise, train one epoch, evaluate and draw
pictures); `run` does the rest: workdir and config bookkeeping, resuming, checkpoints, metrics,
progress, non-finite checks and signal handling. Read `run` top to bottom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections
from absl import logging

from common import checkpoint, input_pipeline, nets, parallel
from common.errors import ConfigError, Interrupted, NonFiniteError
from common.metric_writer import METRICS_FILE, MetricWriter
from common.report import format_duration

CONFIG_FILE = "config.json"

# Config fields that shape the model, the parameters or the data: a run cannot resume with
# other values. Everything else (num_epochs, learning rates, ...) may change between runs.
SHAPING_FIELDS = (
    "model",
    "z_dim",
    "num_filters",
    "stochastic_encoder",
    "disc_hidden",
    "data.name",
    "data.dir",
    "data.split_seed",
    "data.limit",
    "seed",
)


@dataclasses.dataclass
class Task:
    """What a model supplies to `run`. States are pytrees of arrays.

    Attributes:
      init_state: () -> fresh state.
      train_epoch: (state, epoch) -> (state, {name: scalar}); epoch counts from 1. Compiled; the
        values are fetched once per epoch.
      evaluate: (state, epoch) -> {name: float}, e.g. {"val_bpd": ...}; epoch 0 is before training.
      write_artifacts: (state, epoch, writer) -> None; pictures for this epoch, if any.
      finish: (best_state, writer) -> {name: float}, the final row (e.g. test_bpd).
      num_train_images: images per epoch, for images/s.
      monitor: metric name (lower is better) selecting the best checkpoint, or None.
    """

    init_state: Callable[[], Any]
    train_epoch: Callable[[Any, int], tuple[Any, dict[str, jax.Array]]]
    evaluate: Callable[[Any, int], dict[str, float]]
    write_artifacts: Callable[[Any, int, MetricWriter], None]
    finish: Callable[[Any, MetricWriter], dict[str, float]]
    num_train_images: int
    monitor: str | None = None


# ----------------------------------------------------------------------------- workdir & config


def _get(config: ml_collections.ConfigDict, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        if part not in node:
            return None
        node = node[part]
    return node


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str, fresh: bool = False) -> bool:
    """Checks the workdir against `config`, then writes config.json. Returns True to resume.

    Nothing is written before the checks pass: a refused run leaves the workdir as it was.

    Raises:
      ConfigError: the workdir holds a run whose shaping fields (SHAPING_FIELDS) differ.
    """
    config_path = os.path.join(workdir, CONFIG_FILE)
    has_run = os.path.isdir(checkpoint.checkpoint_dir(workdir)) and any(
        name.isdigit() for name in os.listdir(checkpoint.checkpoint_dir(workdir))
    )
    main = parallel.is_main_process()
    parallel.sync("workdir checked")  # every process has read the workdir before it changes
    if fresh:
        for name in (checkpoint.CHECKPOINT_DIR, "samples", "reconstructions"):
            if main:
                shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
        if main and os.path.isdir(workdir):
            for name in os.listdir(workdir):
                if name.startswith("events.out.tfevents") or name in (METRICS_FILE, CONFIG_FILE):
                    os.remove(os.path.join(workdir, name))
        has_run = False
    elif has_run and os.path.exists(config_path):
        with open(config_path) as f:
            saved = ml_collections.ConfigDict(json.load(f))
        for field in SHAPING_FIELDS:
            old, new = _get(saved, field), _get(config, field)
            if old != new:
                raise ConfigError(
                    f"{workdir} holds a run with {field}={old!r}, but this config has "
                    f"{field}={new!r}; use another --workdir, or --fresh to start over there"
                )
    if main:
        os.makedirs(workdir, exist_ok=True)
        with open(config_path + ".tmp", "w") as f:
            f.write(config.to_json_best_effort(indent=2, sort_keys=True))
        os.replace(config_path + ".tmp", config_path)  # readers never see half a file
    parallel.sync("workdir prepared")
    return has_run


def validate_common_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first field out of range among those both models share."""
    checks = (
        (config.z_dim >= 1, f"z_dim={config.z_dim} must be >= 1"),
        (config.num_filters >= 1, f"num_filters={config.num_filters} must be >= 1"),
        (config.batch_size >= 1, f"batch_size={config.batch_size} must be >= 1"),
        (config.eval_batch_size >= 1, f"eval_batch_size={config.eval_batch_size} must be >= 1"),
        (config.num_epochs >= 0, f"num_epochs={config.num_epochs} must be >= 0"),
        (config.checkpoint_every >= 1, f"checkpoint_every={config.checkpoint_every} must be >= 1"),
        (config.data.limit >= 0, f"data.limit={config.data.limit} must be >= 0 (0 = all)"),
        (
            config.data.name in input_pipeline.DATASETS,
            f"data.name={config.data.name!r} is not a known dataset; "
            f"known: {', '.join(input_pipeline.DATASETS)}",
        ),
        (
            config.conv_impl in nets.IMPLS,
            f"conv_impl={config.conv_impl!r}: expected one of {', '.join(nets.IMPLS)}",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config.{message}")


# ----------------------------------------------------------------------------- signals


@contextlib.contextmanager
def stop_requests() -> Iterator[dict[str, int | None]]:
    """Turns the first SIGTERM / SIGINT into a request to stop at the next epoch boundary.

    A second signal acts as usual (SIGINT raises KeyboardInterrupt) so a user can force it.
    """
    request: dict[str, int | None] = {"signum": None}
    previous = {}

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


# ----------------------------------------------------------------------------- helpers


def check_finite(epoch: int, metrics: dict[str, float], last_good: int | None) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise NonFiniteError(
            f"epoch {epoch}: non-finite loss ({names}); training stopped. The last good "
            f"checkpoint (epoch {last_good}) is intact; lower the learning rate and rerun."
        )


def _progress_line(epoch, num_epochs, metrics, seconds, images, elapsed, done) -> str:
    shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "seconds")
    eta = elapsed / max(done, 1) * (num_epochs - epoch)
    return (
        f"epoch {epoch}/{num_epochs}  {shown}  {images / seconds:,.0f} img/s  "
        f"{seconds:.1f}s  ETA {format_duration(eta)}"
    )


# ----------------------------------------------------------------------------- the loop


def run(config: ml_collections.ConfigDict, workdir: str, task: Task, fresh: bool = False) -> dict:
    """Trains `task` for config.num_epochs, resuming from the workdir's latest checkpoint.

    Returns:
      The final row (e.g. {"test_bpd": ..., "best_epoch": ...}).

    Raises:
      ConfigError, NonFiniteError, Interrupted (after saving a checkpoint).
    """
    workdir = os.path.abspath(workdir)
    resume = prepare_workdir(config, workdir, fresh)
    milestones = [e for e in config.checkpoint_epochs if e <= config.num_epochs]
    manager = checkpoint.make_manager(workdir, milestones, task.monitor)

    # --- state: fresh, or the latest checkpoint
    state = task.init_state()
    meta = {"epoch": 0, "best_epoch": None, "best_value": None}
    if resume and manager.latest_step() is not None:
        state, meta = checkpoint.restore(manager, manager.latest_step(), state)
        logging.info("Resuming %s from epoch %d.", workdir, meta["epoch"])
        writer = MetricWriter(workdir, meta["epoch"], enabled=parallel.is_main_process())
    else:
        writer = MetricWriter(workdir, enabled=parallel.is_main_process())
        writer.write_hparams(config.to_dict())

    def end_epoch(epoch: int, state, metrics: dict[str, float]) -> None:
        writer.write_scalars(epoch, metrics)
        value = metrics.get(task.monitor) if task.monitor else None
        if value is not None and (meta["best_value"] is None or value < meta["best_value"]):
            meta.update(best_epoch=epoch, best_value=value)
        meta["epoch"] = epoch
        task.write_artifacts(state, epoch, writer)
        if (
            epoch in milestones
            or epoch % config.checkpoint_every == 0
            or epoch == config.num_epochs
            or epoch == meta["best_epoch"]  # the final test restores it
        ):
            checkpoint.save(
                manager, epoch, state, meta, None if value is None else {task.monitor: value}
            )

    # --- epoch 0: the untrained model
    if meta["epoch"] == 0 and manager.latest_step() is None:
        end_epoch(0, state, {**task.evaluate(state, 0), "seconds": 0.0})

    # --- training
    start_epoch = meta["epoch"]
    start_time = time.perf_counter()
    with stop_requests() as stop:
        for epoch in range(start_epoch + 1, config.num_epochs + 1):
            t0 = time.perf_counter()
            state, train_metrics = task.train_epoch(state, epoch)
            train_metrics = {k: float(v) for k, v in jax.device_get(train_metrics).items()}
            seconds = time.perf_counter() - t0
            check_finite(epoch, train_metrics, manager.latest_step())
            eval_metrics = task.evaluate(state, epoch)
            check_finite(epoch, eval_metrics, manager.latest_step())
            metrics = {**train_metrics, **eval_metrics, "seconds": seconds}
            end_epoch(epoch, state, metrics)
            elapsed = time.perf_counter() - start_time
            logging.info(
                _progress_line(
                    epoch,
                    config.num_epochs,
                    metrics,
                    seconds,
                    task.num_train_images,
                    elapsed,
                    epoch - start_epoch,
                )
            )
            # All processes stop together (a signal may reach only some hosts).
            if parallel.any_process(stop["signum"] is not None) and epoch < config.num_epochs:
                signum = stop["signum"] or signal.SIGTERM  # the hosts the signal missed
                if manager.latest_step() != epoch:
                    checkpoint.save(manager, epoch, state, meta)
                manager.wait_until_finished()
                writer.close()
                raise Interrupted(
                    f"stopped by signal {signum} after epoch {epoch}, checkpoint saved; "
                    "run the same command again to resume",
                    signum,
                )

    # --- final evaluation on the best checkpoint
    best_state = state
    if task.monitor and meta["best_epoch"] is not None and meta["best_epoch"] != meta["epoch"]:
        best_state, _ = checkpoint.restore(manager, meta["best_epoch"], state)
    final = task.finish(best_state, writer)
    if task.monitor:
        final = {**final, "best_epoch": meta["best_epoch"]}
    writer.write_scalars(None, final)
    manager.wait_until_finished()
    manager.close()
    writer.close()
    logging.info("Done: %s", json.dumps(final))
    return final
