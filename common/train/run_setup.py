"""What a run works out once at start-up, as a value: its PRNG keys by purpose and its devices."""

from __future__ import annotations

from typing import NamedTuple

import flax
import jax
import ml_collections
from jax.sharding import Mesh, NamedSharding

from common import parallel
from common.errors import ConfigError


class Keys(NamedTuple):
    """The run's PRNG keys by purpose, all split once from config.seed."""

    init: jax.Array  # parameters
    train: jax.Array  # step keys: fold_in(train, step)
    shuffle: jax.Array  # epoch order: fold_in(shuffle, epoch)
    eval: jax.Array  # evaluation z samples: fold_in(eval, epoch)
    sample: jax.Array  # the fixed prior draws of the sample grids


@flax.struct.dataclass
class RunSetup:
    """What a run works out at start-up (`setup_run`), as a value. A pytree: the keys are its
    leaves (traced: one compiled epoch serves every seed), the rest is static."""

    keys: Keys
    mesh: Mesh = flax.struct.field(pytree_node=False)
    batch_sharding: NamedSharding = flax.struct.field(pytree_node=False)  # the batch axis split
    images_per_epoch: int = flax.struct.field(pytree_node=False)  # whole batches only


def setup_run(config: ml_collections.ConfigDict, num_train_images: int) -> RunSetup:
    """Keys from config.seed and the mesh over all devices. ConfigError: fewer images than one
    batch, or a batch the devices cannot split evenly."""
    batch_size = config.batch_size
    if num_train_images < batch_size:
        raise ConfigError(
            f"only {num_train_images} training images, fewer than one batch of {batch_size}; "
            "lower batch_size or raise data.limit"
        )
    mesh = parallel.make_mesh()
    parallel.check_batch_size(batch_size, mesh)
    return RunSetup(
        keys=Keys(*jax.random.split(jax.random.key(config.seed), len(Keys._fields))),
        mesh=mesh,
        batch_sharding=parallel.batch_sharded(mesh),
        images_per_epoch=(num_train_images // batch_size) * batch_size,
    )
