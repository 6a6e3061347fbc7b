"""Whole epochs as single compiled functions over device-resident uint8 images.

`train_epoch` scans a train step over shuffled batches; `evaluate` scans a per-example function
over every image (the last batch padded and masked), so the host syncs once per call.
"""

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from clu import metrics as clu_metrics

from common import input_pipeline

# (state, batch, key) -> (state, metrics Collection of this batch)
StepFn = Callable[[Any, jax.Array, jax.Array], tuple[Any, clu_metrics.Collection]]


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

    Returns:
      (new state, {metric name: epoch mean}).
    """
    batches = input_pipeline.epoch_batches(shuffle_key, epoch, images.shape[0], batch_size)

    def body(carry, idx):
        state, metrics = carry
        key = jax.random.fold_in(train_key, state.step)
        state, batch_metrics = step_fn(state, transform(images[idx]), key)
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
        values = example_fn(params, images[batch_idx], jax.random.fold_in(key, i))
        w = batch_mask.astype(jnp.float32)
        return jax.tree.map(lambda s, v: s + jnp.sum(v * w), sums, values), None

    shapes = jax.eval_shape(example_fn, params, images[idx[0]], key)
    zeros = jax.tree.map(lambda _: jnp.zeros((), jnp.float32), shapes)
    sums, _ = jax.lax.scan(body, zeros, (jnp.arange(idx.shape[0]), idx, mask))
    count = jnp.sum(mask)
    return jax.tree.map(lambda s: s / count, sums)


class Evaluator:
    """Compiled `evaluate` of one fixed image set, kept on the device."""

    def __init__(self, example_fn, images: np.ndarray, batch_size: int, key: jax.Array):
        self.images = jax.device_put(images)
        idx, mask = input_pipeline.eval_batches(len(images), min(batch_size, len(images)))
        self.idx, self.mask = jax.device_put(idx), jax.device_put(mask)
        self.key = key
        self._fn = jax.jit(functools.partial(evaluate, example_fn=example_fn))

    def __call__(self, params: Any, epoch: int = 0) -> dict[str, float]:
        """Means over the image set; z samples (if any) keyed by fold_in(key, epoch)."""
        key = jax.random.fold_in(self.key, epoch)
        out = self._fn(params, self.images, self.idx, self.mask, key)
        return {k: float(v) for k, v in jax.device_get(out).items()}
