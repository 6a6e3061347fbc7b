"""Data parallelism over all local devices: one mesh axis, "data", over the batch.

Parameters and optimizer states are replicated; each step's batch is split over the devices and
XLA inserts the gradient all-reduce. With one device this is a no-op, so there is one code path.
PRNG draws do not depend on the sharding (threefry is partitionable), so a run on N devices
computes what a run on one device computes, up to the order of floating-point sums.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from common.errors import ConfigError


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
