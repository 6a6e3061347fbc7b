"""Exact means of a per-image function over a fixed image set, compiled, the images on the devices.

The trainer evaluates its `example_metrics` (bits per dimension, reconstruction error, ...) on
the validation split every epoch and on the test split at the end with an `Evaluator`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from common import input_pipeline, parallel


class Evaluator:
    """Compiled means of a per-image function over one fixed image set, kept on the devices.

    The last batch is padded and masked, so the means are exact for any number of images.
    Evaluators of equally many images share one compiled program (`evaluate_means`).
    """

    def __init__(self, example_fn, images_u8: np.ndarray, batch_size: int, key, mesh):
        # Round the batch up to a multiple of the devices; padding is masked out anyway.
        batch_size = -(-min(batch_size, len(images_u8)) // mesh.size) * mesh.size
        idx, mask = input_pipeline.eval_batches(len(images_u8), batch_size)
        self.images, self.idx, self.mask = parallel.replicate((images_u8, idx, mask), mesh)
        self.key = key
        self.example_fn = example_fn
        self.batch_sharding = parallel.batch_sharded(mesh)

    def __call__(self, params: Any, epoch: int = 0) -> dict[str, float]:
        """Means over the image set; z samples (if any) keyed by fold_in(key, epoch)."""
        key = jax.random.fold_in(self.key, epoch)
        out = evaluate_means(
            params,
            self.images,
            self.idx,
            self.mask,
            key,
            example_fn=self.example_fn,
            batch_sharding=self.batch_sharding,
        )
        return {k: float(v) for k, v in jax.device_get(out).items()}


@functools.partial(jax.jit, static_argnames=("example_fn", "batch_sharding"))
def evaluate_means(params, images, idx, mask, key, *, example_fn, batch_sharding):
    """{name: float32 mean over the images} of example_fn; batch i draws fold_in(key, i).

    Args:
      params: the model's parameters.
      images: [N, 28, 28, 1] uint8; idx, mask: [num_batches, batch] from eval_batches.
      key: PRNG key.
      example_fn: (params, uint8 batch, key) -> {name: [batch] float32}.
      batch_sharding: how a batch is split over the devices.
    """

    def body(sums, xs):
        i, batch_idx, batch_mask = xs
        batch = jax.lax.with_sharding_constraint(images[batch_idx], batch_sharding)
        values = example_fn(params, batch, jax.random.fold_in(key, i))
        w = batch_mask.astype(jnp.float32)
        return {k: sums[k] + jnp.sum(values[k] * w) for k in sums}, None

    shapes = jax.eval_shape(example_fn, params, images[idx[0]], key)
    zeros = {k: jnp.zeros((), jnp.float32) for k in shapes}
    sums, _ = jax.lax.scan(body, zeros, (jnp.arange(idx.shape[0]), idx, mask))
    count = jnp.sum(mask)
    return {k: s / count for k, s in sums.items()}
