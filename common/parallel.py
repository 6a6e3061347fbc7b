"""Data parallelism over all devices: one mesh axis, "data", over the batch; state replicated,
XLA inserting the all-reduce (one device: the same code path). Across hosts (`--distributed`)
every process runs the same program on the same data; only process 0 writes files, except orbax
checkpoints. N devices compute what one does, up to the order of floating-point sums.
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
    """True on every process if `flag` is True on any: for decisions all must take together,
    e.g. stopping on a signal only some hosts got (a collective save would wait forever)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, np.int32))))


def together(fn: Callable[[], Any], what: str) -> Any:
    """fn() on every process; a UserError on any raises on all (the others' names `what`): one
    failing alone would leave the others waiting in their next collective."""
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
