"""Data parallelism over all devices: one mesh axis, "data", over the batch.

Parameters and optimizer states are replicated; each step's batch is split over the devices and
XLA inserts the gradient all-reduce. With one device this is a no-op, so there is one code path.
Across hosts (a TPU pod, or GPUs on several machines), call `jax.distributed.initialize()` first
(`--distributed` of the train scripts): the mesh then spans every host's devices, every process
loads the same data and runs the same program, and only process 0 writes files
(`is_main_process`); orbax checkpoints are written by all processes together.
PRNG draws do not depend on the sharding (threefry is partitionable), so a run on N devices
computes what a run on one device computes, up to the order of floating-point sums.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from common.errors import ConfigError, UserError


def is_main_process() -> bool:
    """True on the one process that writes metrics, pictures and config.json (always, one host)."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """Waits until every process reaches this point (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is True on any (a no-op with one process).

    For decisions all processes must take together, such as stopping after a signal that
    reached only some hosts: collective saves would otherwise wait for the others forever.
    """
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, np.int32))))


def together(fn: Callable[[], Any], what: str) -> Any:
    """fn() on every process; if it raises a UserError on any, it raises on all.

    A process that fails alone would leave the others waiting for it in their next collective.
    The processes that did not fail raise a UserError naming `what`.
    """
    error = None
    try:
        result = fn()
    except UserError as e:
        error, result = e, None
    if any_process(error is not None):
        raise error or UserError(f"another process failed: {what}; see its error")
    return result


def main_first(fn: Callable[[], Any], what: str) -> Any:
    """fn() on process 0, then on the others (which find what it downloaded or cached); a
    UserError on any process stops all of them (see `together`)."""
    main = is_main_process()
    result = together(fn if main else _nothing, what)
    if jax.process_count() > 1:
        other = together(_nothing if main else fn, what)
        result = result if main else other
    return result


def _nothing() -> None:
    return None


def make_mesh(devices=None) -> Mesh:
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Splits the leading (batch) axis over the mesh's devices."""
    return NamedSharding(mesh, PartitionSpec("data"))


def replicate(tree: Any, mesh: Mesh) -> Any:
    return jax.device_put(tree, replicated(mesh))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "batch_size") -> None:
    if batch_size % mesh.size:
        raise ConfigError(
            f"config.{name}={batch_size} must be a multiple of the {mesh.size} devices "
            "it is split over"
        )
