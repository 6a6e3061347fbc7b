"""Orbax checkpoints in `workdir/checkpoints`, one step per epoch: the train state and the
run's `Progress` as JSON `meta`. Kept: the two newest, the milestones (`checkpoint_epochs`) and
the best of a monitored metric. A kill mid-write leaves the previous ones restorable (orbax
renames a finished temporary folder); one damaged later is skipped for the next older one, and
set aside on resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import logging as logging_std
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from common import parallel
from common.errors import NO_SPACE_WORDS, CheckpointError
from common.train import run_files

KEEP_NEWEST = 2  # besides the milestones and the best: one damaged write costs one epoch
# Room a checkpoint needs beyond its arrays (orbax writes them once, to a temporary folder it
# renames): its metadata files and the meta, with a margin.
SAVE_OVERHEAD = 1 << 20


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), run_files.CHECKPOINTS)


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a run got; saved beside each checkpoint as its JSON `meta`."""

    epoch: int = 0  # the last epoch done (0: the untrained model)
    best_epoch: int | None = None  # of the monitored metric, lowest so far
    best_value: float | None = None

    def after(self, epoch: int, value: float | None) -> Progress:
        """The progress once `epoch` is done, its monitored metric `value` (None: none)."""
        if value is not None and (self.best_value is None or value < self.best_value):
            return Progress(epoch, epoch, value)
        return dataclasses.replace(self, epoch=epoch)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Progress:
        """The progress a checkpoint's JSON `meta` holds."""
        return cls(**{f.name: meta[f.name] for f in dataclasses.fields(cls) if f.name in meta})


def make_manager(
    workdir: str,
    milestones: Sequence[int] = (),
    monitor: str | None = None,
    read_only: bool = False,
) -> ocp.CheckpointManager:
    """A CheckpointManager keeping the newest two, the milestones and the best (lowest monitor)."""
    policies = [
        ocp.checkpoint_managers.LatestN(n=KEEP_NEWEST),
        ocp.checkpoint_managers.CustomSteps(steps=list(milestones)),
    ]
    if monitor:
        # reverse=True sorts descending, and BestN keeps the last: the lowest value.
        policies.append(
            ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m[monitor], reverse=True, n=1)
        )
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
        create=not read_only,
        read_only=read_only,
        # The next epoch trains while a checkpoint is written: a run killed before it is
        # complete resumes from the one before (and writes that epoch's row again).
        enable_async_checkpointing=not read_only,
        # A save cut short (a kill, a full disk) leaves a temporary folder: gone at the next start.
        cleanup_tmp_directories=not read_only,
    )
    return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def save(
    manager: ocp.CheckpointManager,
    state: Any,
    progress: Progress,
    metrics: dict[str, float] | None = None,
) -> None:
    """Saves `state` and `progress` as step progress.epoch; `metrics` rank it for the best.
    Replicated arrays go from one host copy: orbax's sharded path fails for them across
    processes. OSError (ENOSPC) when the disk has less room, checked first: a save failing
    half-way spills dozens of tracebacks from orbax's threads."""
    state = jax.tree.map(_host_copy, state)
    need = sum(x.nbytes for x in jax.tree.leaves(state)) + SAVE_OVERHEAD
    free = shutil.disk_usage(manager.directory).free
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"a checkpoint needs about {need / 1e6:.1f} MB",
            os.path.join(str(manager.directory), str(progress.epoch)),
        )
    manager.save(
        progress.epoch,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(dataclasses.asdict(progress))
        ),
        metrics=metrics,
        force=True,
    )


def _host_copy(x: Any) -> Any:
    if isinstance(x, jax.Array) and x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    return x


def restore(manager: ocp.CheckpointManager, epoch: int, target: Any) -> tuple[Any, Progress]:
    """Restores step `epoch` into `target`'s structure, dtypes and shardings. CheckpointError
    (listing those that exist): no checkpoint for `epoch`."""
    available = sorted(manager.all_steps())
    if epoch not in available:
        raise CheckpointError(
            f"no checkpoint for epoch {epoch} in {manager.directory}; "
            f"available epochs: {', '.join(map(str, available)) or 'none'}"
        )
    restored = manager.restore(
        epoch,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()
        ),
    )
    return restored.state, Progress.from_meta(restored.meta)


def restore_best(
    manager: ocp.CheckpointManager, state: Any, progress: Progress
) -> tuple[Any, Progress]:
    """The state of progress.best_epoch (`state` when that is the last or none); a damaged best
    checkpoint gives way to `state`, and the progress then names the last epoch the best."""
    if progress.best_epoch in (None, progress.epoch):
        return state, progress
    try:
        return restore(manager, progress.best_epoch, state)[0], progress
    except Exception as e:  # damaged since it was written: test the last epoch
        logging.warning(
            "Checkpoint of the best epoch %d does not restore (%s); testing the last epoch's "
            "model instead.",
            progress.best_epoch,
            describe_error(e),
        )
        return state, dataclasses.replace(progress, best_epoch=progress.epoch)


def describe_error(e: BaseException) -> str:
    """A failed restore's exception in one line: its type and first line."""
    first = (str(e).strip().splitlines() or [""])[0]
    first = first.split(" See full TensorStore details")[0]  # then a repr of its whole spec
    return f"{type(e).__name__}: {first[:200]}"


def restore_newest(
    manager: ocp.CheckpointManager, target: Any
) -> tuple[Any, Progress, int, list[tuple[int, str]]]:
    """The newest checkpoint that restores: (state, progress, epoch, [(epoch, reason)] of the
    newer ones that failed). CheckpointError (each one's reason): none restores."""
    failed = []
    finished = set(_epochs_in(str(manager.directory)))  # not a stray folder's number
    for epoch in sorted(set(manager.all_steps()) & finished, reverse=True):
        try:
            state, progress = restore(manager, epoch, target)
            return state, progress, epoch, failed
        except Exception as e:  # damage shows as many types: OSError, ValueError, tensorstore's
            failed.append((epoch, describe_error(e)))
    reasons = "; ".join(f"epoch {e}: {r}" for e, r in failed) or "there are none"
    raise CheckpointError(
        f"no checkpoint in {manager.directory} restores ({reasons}); --fresh starts over"
    )


_ORBAX_CODE = f"{os.sep}orbax{os.sep}"  # in the path of every file of orbax's package


def _in_orbax(tb: Any) -> bool:
    """Whether a traceback passes through orbax's code."""
    return tb is not None and any(
        _ORBAX_CODE in frame.filename for frame in traceback.extract_tb(tb)
    )


def _left_behind(error: BaseException | None) -> bool:
    """Whether an exception nobody retrieved is one of orbax's reads or writes: raised in orbax's
    code, or by a tensorstore read (its future is set from tensorstore's threads: no frame of
    orbax's, maybe asyncio's; its message names the tensorstore spec)."""
    if error is None:
        return False
    return _in_orbax(error.__traceback__) or "tensorstore_spec" in str(error)


def _drop_orphaned_reads(unraisable: Any) -> None:
    """sys.unraisablehook: drops what the reads still in flight after a failed restore raise
    when they end, from tensorstore's threads, up to seconds later: dozens of "Event loop is
    closed" on the event loop orbax has closed, or their read errors (`_left_behind`, as in
    the asyncio records `_OrbaxNoise` drops); passes on everything else. Installed for the
    process: those reads may finish long after the restore returned."""
    error = unraisable.exc_value
    closed_loop = isinstance(error, RuntimeError) and str(error) == "Event loop is closed"
    if not (closed_loop or _left_behind(error)):
        _previous_unraisablehook(unraisable)


_previous_unraisablehook = sys.unraisablehook
sys.unraisablehook = _drop_orphaned_reads


class _OrbaxNoise(logging_std.Filter):
    """Drops two kinds of log records nothing can be done about: orbax's own reports of an
    asynchronous save that ran out of space (a dozen tracebacks from its threads: the disk can
    fill after `save` checked it, while the save writes; the run then ends with DiskFull's one
    line, which says what to do), and asyncio's "exception was never retrieved" for orbax's
    reads or writes left behind by a failed restore or save (when they are collected: a
    tensorstore read's is three lines, its spec printed twice). Any other record
    passes."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        from_asyncio = record.name == "asyncio"
        if from_asyncio and record.exc_info and _left_behind(record.exc_info[1]):
            return False  # orbax's read or write left behind
        if not from_asyncio and _ORBAX_CODE not in record.pathname:
            return True
        text = record.getMessage()  # a save out of space: tensorstore's errors carry no frames
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        return not any(words in text for words in NO_SPACE_WORDS)


for _logger in (logging.get_absl_logger(), logging_std.getLogger("asyncio")):
    _logger.addFilter(_OrbaxNoise())


class _OrbaxNotes(logging_std.Filter):
    """orbax's INFO and WARNING records while it reads: notes on what a read-only reader does
    ("Given directory is read only", a missing metadata file), nothing to act on; what matters
    (an epoch that does not restore) this module says itself. (The scripts drop them for the
    whole run: common.cli's filter; `common.load` in a user's program sees this one.)"""

    def filter(self, record: logging_std.LogRecord) -> bool:
        return _ORBAX_CODE not in record.pathname or record.levelno >= logging_std.ERROR


@contextlib.contextmanager
def _without_orbax_notes() -> Iterator[None]:
    notes, logger = _OrbaxNotes(), logging.get_absl_logger()
    logger.addFilter(notes)
    try:
        yield
    finally:
        logger.removeFilter(notes)


def set_aside(workdir: str, epoch: int | str) -> str:
    """Moves checkpoints/EPOCH to damaged_checkpoints/EPOCH-<time>; returns the new path."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    dst = os.path.join(os.path.abspath(workdir), run_files.DAMAGED_CHECKPOINTS, f"{epoch}-{stamp}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.move(os.path.join(checkpoint_dir(workdir), str(epoch)), dst)
    return dst


def restore_workdir(
    workdir: str, target: Any, epoch: int | None = None, set_aside_damaged: bool = False
) -> tuple[Any, Progress, int]:
    """(state, progress, epoch) of `epoch` in `workdir` (None: the newest that restores). Each
    newer one that fails gets a warning line and, with `set_aside_damaged` (resuming), goes to
    damaged_checkpoints/. CheckpointError (why, what to try): `epoch` is missing or does not
    restore, or (None) none does."""
    with _without_orbax_notes():
        return _restore_workdir(workdir, target, epoch, set_aside_damaged)


def _restore_workdir(workdir, target, epoch, set_aside_damaged):
    manager = _read_only_manager(workdir)
    try:
        if epoch is not None:
            try:
                state, progress = restore(manager, epoch, target)
            except CheckpointError:
                raise
            except Exception as e:  # damaged: the newest of the others may do
                raise CheckpointError(
                    f"the checkpoint of epoch {epoch} in {workdir} does not restore "
                    f"({describe_error(e)}); try another --epoch, or none"
                ) from None
            return state, progress, epoch
        state, progress, epoch, damaged = restore_newest(manager, target)
    finally:
        manager.close()
    for bad, reason in damaged:
        logging.warning("Checkpoint of epoch %d does not restore (%s).", bad, reason)
        if set_aside_damaged and parallel.is_main_process():
            moved = set_aside(workdir, bad)
            logging.warning("Moved it to %s; resuming from epoch %d.", moved, epoch)
    if set_aside_damaged:
        parallel.sync("damaged checkpoints set aside")
    return state, progress, epoch


def epochs(workdir: str) -> list[int]:
    """The epochs of `workdir`'s checkpoints, ascending: folders checkpoints/N with a state."""
    return _epochs_in(checkpoint_dir(workdir))


def _epochs_in(folder: str) -> list[int]:
    if not os.path.isdir(folder):
        return []
    names = [n for n in os.listdir(folder) if n.isdigit()]
    return sorted(int(n) for n in names if os.path.isdir(os.path.join(folder, n, "state")))


def strays(workdir: str) -> list[str]:
    """The entries of checkpoints/ named by a number that are not checkpoints (`epochs`)."""
    folder = checkpoint_dir(workdir)
    if not os.path.isdir(folder):
        return []
    found = set(map(str, epochs(workdir)))
    return sorted(n for n in os.listdir(folder) if n.isdigit() and n not in found)


class Survey(NamedTuple):
    """What a workdir's checkpoints/ holds, read once before a run starts."""

    epochs: list[int]  # of its checkpoints, ascending
    differences: str | None  # how the newest readable one's state differs (`differences`)


def survey(workdir: str, state_shapes: Any, move_strays: bool) -> Survey:
    """The workdir's checkpoints and, unless `state_shapes` is None, how the newest readable
    one differs from it. With `move_strays`, stray entries (named like a checkpoint, none: never
    counted as an epoch) are moved to damaged_checkpoints/ first, by the first process."""
    for stray in strays(workdir) if move_strays else ():
        moved = set_aside(workdir, stray) if parallel.is_main_process() else "damaged_checkpoints/"
        logging.warning("checkpoints/%s is not a checkpoint: moved it to %s.", stray, moved)
    found = epochs(workdir)
    diffs = differences(workdir, state_shapes) if found and state_shapes is not None else None
    return Survey(found, diffs)


def _read_only_manager(workdir: str) -> ocp.CheckpointManager:
    """A reading manager, tried again when a run prunes a checkpoint while it lists them."""
    for attempt in range(3):
        try:
            return make_manager(workdir, read_only=True)
        except (OSError, ValueError) as e:  # a checkpoint gone between listing and reading
            error = e
            time.sleep(0.2 * (attempt + 1))
    raise CheckpointError(
        f"the checkpoints in {workdir} cannot be listed ({describe_error(error)}); if a run is "
        "saving there, try again"
    )


def structure(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """{"params/encoder/Dense_0/kernel": (shape, dtype)} of a pytree of arrays or shapes."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = [str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k)))) for k in path]
        out["/".join(names)] = (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
    return out


def state_structure(workdir: str, epoch: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """`structure` of the state saved at `epoch`, from its metadata (nothing is restored)."""
    path = os.path.join(checkpoint_dir(workdir), str(epoch), "state")
    with _without_orbax_notes():
        metadata = ocp.StandardCheckpointer().metadata(path).item_metadata
    saved = structure(metadata) if metadata is not None else {}
    if not saved:  # orbax logs and returns nothing for a damaged metadata file
        raise CheckpointError(f"{path}: no readable metadata")
    return saved


def differences(workdir: str, state: Any) -> str | None:
    """How the newest readable checkpoint's state differs from `state` (arrays or shapes), from
    its metadata: the count and the first three; None when equal or none reads."""
    for epoch in epochs(workdir)[::-1]:
        try:
            saved = state_structure(workdir, epoch)
        except Exception:  # unreadable: damaged
            continue
        ours = structure(state)
        if saved == ours:
            return None
        diffs = [f"{p} missing here" for p in sorted(saved.keys() - ours.keys())]
        diffs += [f"{p} new here" for p in sorted(ours.keys() - saved.keys())]
        diffs += [
            f"{p} {_array(saved[p])} -> {_array(ours[p])}"
            for p in sorted(saved.keys() & ours.keys())
            if saved[p] != ours[p]
        ]
        return f"{len(diffs)}: {'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''}"
    return None


def _array(shape_dtype: tuple) -> str:
    shape, dtype = shape_dtype
    return f"{dtype}[{', '.join(map(str, shape))}]"
