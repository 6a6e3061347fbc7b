"""Orbax checkpoints in `workdir/checkpoints`, one step per epoch.

What is kept: the two newest checkpoints (written every `checkpoint_every` epochs, older ones
pruned), the milestone epochs (`checkpoint_epochs`, never pruned) and, when a metric is
monitored, the best one. Each checkpoint holds the train state (params, optimizer states, step)
and a small JSON `meta` dict (epoch, best epoch and value). Orbax writes into a temporary folder
and renames it when complete, so a process killed mid-write leaves the previous checkpoints
restorable; a checkpoint damaged afterwards (a truncated file, a lost metadata file) is skipped
by `restore_newest` for the next older one, and the trainer sets it aside.
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from common.errors import CheckpointError

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged_checkpoints"  # beside CHECKPOINT_DIR: what failed to restore, kept
KEEP_NEWEST = 2  # besides the milestones and the best: one damaged write costs one epoch


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


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
        # Saving synchronously keeps "checkpoint written" and "epoch done" one event: a kill
        # can never separate them. A checkpoint of this model takes milliseconds.
        enable_async_checkpointing=False,
    )
    return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def save(
    manager: ocp.CheckpointManager,
    epoch: int,
    state: Any,
    meta: dict[str, Any],
    metrics: dict[str, float] | None = None,
) -> None:
    """Saves `state` (any pytree of arrays) and JSON `meta` as step `epoch`.

    Replicated arrays are saved from one host copy: the state is replicated (common.parallel),
    and orbax's sharded-array path fails for replicated arrays across several processes.
    """
    state = jax.tree.map(_host_copy, state)
    manager.save(
        epoch,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        metrics=metrics,
        force=True,
    )


def _host_copy(x: Any) -> Any:
    if isinstance(x, jax.Array) and x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    return x


def restore(manager: ocp.CheckpointManager, epoch: int, target: Any) -> tuple[Any, dict]:
    """Restores step `epoch` into the structure, dtypes and shardings of `target`.

    Raises:
      CheckpointError: no checkpoint for `epoch`; the message lists those that exist.
    """
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
    return restored.state, dict(restored.meta)


def describe_error(e: BaseException) -> str:
    """One line for an exception of a failed restore: its type and its first line."""
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first[:200]}"


def restore_newest(
    manager: ocp.CheckpointManager, target: Any
) -> tuple[Any, dict, int, list[tuple[int, str]]]:
    """Restores the newest checkpoint that restores, trying older ones after a failure.

    Returns:
      (state, meta, its epoch, [(epoch, reason)] of the newer checkpoints that failed).

    Raises:
      CheckpointError: none restores (the message gives each one's reason).
    """
    failed = []
    for epoch in sorted(manager.all_steps(), reverse=True):
        try:
            state, meta = restore(manager, epoch, target)
            return state, meta, epoch, failed
        except Exception as e:  # damage shows as many types: OSError, ValueError, tensorstore's
            failed.append((epoch, describe_error(e)))
    reasons = "; ".join(f"epoch {e}: {r}" for e, r in failed) or "there are none"
    raise CheckpointError(
        f"no checkpoint in {manager.directory} restores ({reasons}); --fresh starts over"
    )


def set_aside(workdir: str, epoch: int) -> str:
    """Moves checkpoints/EPOCH to damaged_checkpoints/EPOCH-<time>; returns the new path."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    dst = os.path.join(os.path.abspath(workdir), DAMAGED_DIR, f"{epoch}-{stamp}")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.move(os.path.join(checkpoint_dir(workdir), str(epoch)), dst)
    return dst


def epochs(workdir: str) -> list[int]:
    """The epochs of the finished checkpoints in `workdir`, ascending."""
    folder = checkpoint_dir(workdir)
    if not os.path.isdir(folder):
        return []
    return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


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
    metadata = ocp.StandardCheckpointer().metadata(path).item_metadata
    saved = structure(metadata) if metadata is not None else {}
    if not saved:  # orbax logs and returns nothing for a damaged metadata file
        raise CheckpointError(f"{path}: no readable metadata")
    return saved
