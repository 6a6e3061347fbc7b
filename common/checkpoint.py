"""Orbax checkpoints in `workdir/checkpoints`, one step per epoch.

What is kept: the latest checkpoint (written every `checkpoint_every` epochs, older ones pruned),
the milestone epochs (`checkpoint_epochs`, never pruned) and, when a metric is monitored, the
best one. Each checkpoint holds the train state (params, optimizer states, step) and a small JSON
`meta` dict (epoch, best epoch and value). Orbax writes into a temporary folder and renames it
when complete, so a process killed mid-write leaves the previous checkpoints restorable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from common.errors import CheckpointError

CHECKPOINT_DIR = "checkpoints"


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), CHECKPOINT_DIR)


def make_manager(
    workdir: str,
    milestones: Sequence[int] = (),
    monitor: str | None = None,
    read_only: bool = False,
) -> ocp.CheckpointManager:
    """A CheckpointManager keeping the latest, the milestone and the best (lowest `monitor`)."""
    policies = [
        ocp.checkpoint_managers.LatestN(n=1),
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
