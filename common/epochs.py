"""Whole epochs as single compiled functions over device-resident uint8 images.

`train_epoch` scans a train step over shuffled batches; `evaluate` scans a per-example function
over every image (the last batch padded and masked), so the host syncs once per call.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metrics as clu_metrics
from clu import parameter_overview
from jax.sharding import Mesh

from common import input_pipeline, parallel
from common.errors import ConfigError

# (state, batch, key) -> (state, metrics Collection of this batch)
StepFn = Callable[[Any, jax.Array, jax.Array], tuple[Any, clu_metrics.Collection]]


def _shard(batch: jax.Array, sharding: jax.sharding.Sharding | None) -> jax.Array:
    return batch if sharding is None else jax.lax.with_sharding_constraint(batch, sharding)


def train_epoch(
    state: Any,
    images: jax.Array,
    epoch: jax.Array,
    *,
    step_fn: StepFn,
    transform: Callable[[jax.Array], jax.Array],
    metrics_cls: type[clu_metrics.Collection],
    batch_size: int,
    shuffle_key: jax.Array,
    train_key: jax.Array,
    batch_sharding: jax.sharding.Sharding | None = None,
) -> tuple[Any, dict[str, jax.Array]]:
    """One epoch as one `lax.scan`; jit it with the keyword arguments bound.

    The order of batches is a function of (shuffle_key, epoch) and each step's key is
    fold_in(train_key, state.step), so a resumed run draws exactly what an uninterrupted one does.

    Args:
      state: pytree with a `step` field.
      images: [N, 28, 28, 1] uint8 on the device, the training split.
      epoch: int scalar (traced: one compilation serves every epoch).
      step_fn: the train step.
      transform: uint8 batch -> model input (e.g. input_pipeline.quantize_4bit).
      metrics_cls: the step's metrics Collection; its epoch means are returned.
      batch_sharding: how each batch is split over devices (parallel.batch_sharded), or None.

    Returns:
      (new state, {metric name: epoch mean}).
    """
    batches = input_pipeline.epoch_batches(shuffle_key, epoch, images.shape[0], batch_size)

    def body(carry, idx):
        state, metrics = carry
        key = jax.random.fold_in(train_key, state.step)
        state, batch_metrics = step_fn(state, _shard(transform(images[idx]), batch_sharding), key)
        return (state, metrics.merge(batch_metrics)), None

    (state, metrics), _ = jax.lax.scan(body, (state, metrics_cls.empty()), batches)
    return state, metrics.compute()


def evaluate(
    params: Any,
    images: jax.Array,
    idx: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    *,
    example_fn: Callable[[Any, jax.Array, jax.Array], dict[str, jax.Array]],
    batch_sharding: jax.sharding.Sharding | None = None,
) -> dict[str, jax.Array]:
    """Means over every image of per-example values; exact when the last batch is short.

    Args:
      params: model parameters.
      images: [N, 28, 28, 1] uint8 on the device.
      idx, mask: [num_batches, batch] int32 / bool from input_pipeline.eval_batches.
      key: PRNG key; batch i gets fold_in(key, i).
      example_fn: (params, uint8 batch [b, 28, 28, 1], key) -> {name: [b] float32}.

    Returns:
      {name: float32 scalar mean over the N images}.
    """

    def body(sums, xs):
        i, batch_idx, batch_mask = xs
        batch = _shard(images[batch_idx], batch_sharding)
        values = example_fn(params, batch, jax.random.fold_in(key, i))
        w = batch_mask.astype(jnp.float32)
        return jax.tree.map(lambda s, v: s + jnp.sum(v * w), sums, values), None

    shapes = jax.eval_shape(example_fn, params, images[idx[0]], key)
    zeros = jax.tree.map(lambda _: jnp.zeros((), jnp.float32), shapes)
    sums, _ = jax.lax.scan(body, zeros, (jnp.arange(idx.shape[0]), idx, mask))
    count = jnp.sum(mask)
    return jax.tree.map(lambda s: s / count, sums)


class Evaluator:
    """Compiled `evaluate` of one fixed image set, kept on the device."""

    def __init__(self, example_fn, images: np.ndarray, batch_size: int, key: jax.Array, mesh: Mesh):
        # Round the batch up to a multiple of the devices; padding is masked out anyway.
        batch_size = -(-min(batch_size, len(images)) // mesh.size) * mesh.size
        idx, mask = input_pipeline.eval_batches(len(images), batch_size)
        self.images, self.idx, self.mask = parallel.replicate((images, idx, mask), mesh)
        self.key = key
        self._fn = jax.jit(
            functools.partial(
                evaluate, example_fn=example_fn, batch_sharding=parallel.batch_sharded(mesh)
            )
        )

    def __call__(self, params: Any, epoch: int = 0) -> dict[str, float]:
        """Means over the image set; z samples (if any) keyed by fold_in(key, epoch)."""
        key = jax.random.fold_in(self.key, epoch)
        out = self._fn(params, self.images, self.idx, self.mask, key)
        return {k: float(v) for k, v in jax.device_get(out).items()}


class Keys(NamedTuple):
    """The run's PRNG keys by purpose, all split once from config.seed."""

    init: jax.Array
    train: jax.Array  # step keys: fold_in(train, step)
    shuffle: jax.Array  # epoch order: fold_in(shuffle, epoch)
    eval: jax.Array  # evaluation z samples: fold_in(eval, epoch)
    sample: jax.Array  # the fixed prior draws of the sample grids


@dataclasses.dataclass(frozen=True)
class Setup:
    """What both trainers build the same way: keys, mesh, the compiled epoch, evaluators.

    Attributes:
      train_epoch: (state, epoch) -> (state, {metric: epoch mean}), compiled once.
      evaluator: uint8 images [N, 28, 28, 1] -> Evaluator of example_fn over them.
      num_train_images: images one epoch trains on (the partial last batch dropped).
    """

    keys: Keys
    mesh: Mesh
    train_epoch: Callable[[Any, int], tuple[Any, dict[str, jax.Array]]]
    evaluator: Callable[[np.ndarray], Evaluator]
    num_train_images: int

    def init_state(self, create_state: Callable[[jax.Array], Any]) -> Any:
        """create_state(init key), replicated over the mesh, its parameters logged once."""
        state = parallel.replicate(create_state(self.keys.init), self.mesh)
        logging.info("\n%s", parameter_overview.get_parameter_overview(state.params))
        return state


def setup(
    config: ml_collections.ConfigDict,
    train_images: np.ndarray,
    *,
    step_fn: StepFn,
    transform: Callable[[jax.Array], jax.Array],
    metrics_cls: type[clu_metrics.Collection],
    example_fn: Callable[[Any, jax.Array, jax.Array], dict[str, jax.Array]],
) -> Setup:
    """Splits the keys, builds the mesh, puts the training images on it and compiles the epoch.

    Raises:
      ConfigError: fewer images than one batch, or a batch the devices cannot split evenly.
    """
    batch_size = config.batch_size
    if len(train_images) < batch_size:
        raise ConfigError(
            f"only {len(train_images)} training images, fewer than one batch of {batch_size}; "
            "lower batch_size or raise data.limit"
        )
    mesh = parallel.make_mesh()
    parallel.check_batch_size(batch_size, mesh)
    keys = Keys(*jax.random.split(jax.random.key(config.seed), len(Keys._fields)))
    device_images = parallel.replicate(train_images, mesh)
    epoch_fn = jax.jit(
        functools.partial(
            train_epoch,
            step_fn=step_fn,
            transform=transform,
            metrics_cls=metrics_cls,
            batch_size=batch_size,
            shuffle_key=keys.shuffle,
            train_key=keys.train,
            batch_sharding=parallel.batch_sharded(mesh),
        ),
        donate_argnums=0,
    )
    return Setup(
        keys=keys,
        mesh=mesh,
        train_epoch=lambda state, epoch: epoch_fn(state, device_images, epoch),
        evaluator=lambda images: Evaluator(
            example_fn, images, config.eval_batch_size, keys.eval, mesh
        ),
        num_train_images=(len(train_images) // batch_size) * batch_size,
    )
