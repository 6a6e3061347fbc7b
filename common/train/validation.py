"""Exact means of a per-image function over a fixed image set, compiled, the images on the devices;
and the per-epoch validation: those means and the codes' distance from the prior in one pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from common import input_pipeline, latents, parallel, priors
from common.shapes import Codes, ImagesU8, PerImage

# (params, images, key) -> {name: per-image values}: a trainer's `example_metrics`.
ExampleFn = Callable[[Any, ImagesU8, jax.Array], dict[str, PerImage]]
# (params, images, key) -> (per-image values, codes drawn from q(z|x)): a trainer's
# `example_metrics_and_codes`.
ExampleCodesFn = Callable[[Any, ImagesU8, jax.Array], tuple[dict[str, PerImage], Codes]]


class Evaluator:
    """Compiled means of `example_fn` over one image set kept on the devices: exact for any
    count (the last batch padded and masked); equally many images share one compilation."""

    def __init__(
        self, example_fn: ExampleFn, images_u8: np.ndarray, batch_size: int, key, mesh: Mesh
    ):
        # Round the batch up to a multiple of the devices; padding is masked out anyway.
        batch_size = -(-min(batch_size, len(images_u8)) // mesh.size) * mesh.size
        idx, mask = input_pipeline.eval_batches(len(images_u8), batch_size)
        self.images, self.idx, self.mask = parallel.replicate((images_u8, idx, mask), mesh)
        self.key = key
        self.example_fn = example_fn
        self.batch_sharding = parallel.batch_sharded(mesh)

    def means(self, params: Any, epoch: int | jax.Array = 0, with_codes: bool = False):
        """Means over the image set, on the devices; z samples keyed by fold_in(key, epoch).
        `with_codes`: (means, every image's codes), as evaluate_means gives them."""
        return evaluate_means(
            params,
            self.images,
            self.idx,
            self.mask,
            jax.random.fold_in(self.key, epoch),
            example_fn=self.example_fn,
            batch_sharding=self.batch_sharding,
            with_codes=with_codes,
        )

    def __call__(self, params: Any, epoch: int = 0) -> dict[str, float]:
        """`means` as floats on the host."""
        return {k: float(v) for k, v in jax.device_get(self.means(params, epoch)).items()}


@functools.partial(jax.jit, static_argnames=("example_fn", "batch_sharding", "with_codes"))
def evaluate_means(params, images, idx, mask, key, *, example_fn, batch_sharding, with_codes=False):
    """{name: float32 mean over `images`} of example_fn, batches from eval_batches' idx and mask;
    batch i draws fold_in(key, i). `with_codes`: example_fn gives (values, codes), and the codes
    of every image, in order, come back too: (means, Codes [num_batches * batch, z])."""

    def body(sums, xs):
        i, batch_idx, batch_mask = xs
        batch = jax.lax.with_sharding_constraint(images[batch_idx], batch_sharding)
        out = example_fn(params, batch, jax.random.fold_in(key, i))
        values, codes = out if with_codes else (out, None)
        w = batch_mask.astype(jnp.float32)
        return {k: sums[k] + jnp.sum(values[k] * w) for k in sums}, codes

    shapes = jax.eval_shape(example_fn, params, images[idx[0]], key)
    zeros = {k: jnp.zeros((), jnp.float32) for k in (shapes[0] if with_codes else shapes)}
    sums, codes = jax.lax.scan(body, zeros, (jnp.arange(idx.shape[0]), idx, mask))
    count = jnp.sum(mask)
    means = {k: s / count for k, s in sums.items()}
    return (means, codes.reshape(-1, codes.shape[-1])) if with_codes else means


def _values_only(example_fn: ExampleCodesFn, params, images, key):
    return example_fn(params, images, key)[0]


class Validation:
    """The per-epoch validation numbers in one compiled call and one transfer: the means of
    `example_fn`'s metrics over `images_u8` (at least 2), and `code_*`: `latents`' statistics of
    the first `num_codes` images' codes (from the same pass: a trainer's
    `example_metrics_and_codes`) against as many prior draws, the same draws every epoch (none
    with `num_codes` 0: a model that matches no prior). `labels` (a label-guided prior's, else
    None) add "code_own_region"."""

    def __init__(
        self,
        example_fn: ExampleCodesFn,
        images_u8: np.ndarray,
        labels: np.ndarray | None,
        prior: priors.Prior,
        batch_size: int,
        key: jax.Array,
        mesh: Mesh,
        num_codes: int,
    ):
        # The images and batches on the devices; its example_fn gives codes too (`_both`), which
        # without num_codes are dropped (XLA leaves out what nothing reads).
        if not num_codes:
            example_fn = functools.partial(_values_only, example_fn)
        self.evaluator = Evaluator(example_fn, images_u8, batch_size, key, mesh)
        self.num_codes = min(num_codes, len(images_u8))
        self.code_labels = (
            None if labels is None else parallel.replicate(labels[: self.num_codes], mesh)
        )
        self.prior = prior
        self.prior_z = prior.sample(jax.random.fold_in(key, 2**31 - 1), self.num_codes)
        self._validate = jax.jit(self._both)

    def _both(self, params, epoch, code_labels, prior_z):
        if not self.num_codes:
            return self.evaluator.means(params, epoch)
        means, codes = self.evaluator.means(params, epoch, with_codes=True)
        z = codes[: self.num_codes]
        gaussian = self.prior.name == priors.Gaussian.name
        stats = latents.code_statistics(z, prior_z, moments=gaussian)
        if code_labels is not None:
            stats["code_own_region"] = latents.own_region_share(self.prior, z, code_labels)
        return {**means, **stats}

    def compile(self, params: Any) -> None:
        """Compiles the call ahead of the first epoch (the run's breakdown counts it apart)."""
        args = (self.code_labels, self.prior_z)
        self._validate = self._validate.lower(params, np.int32(0), *args).compile()

    def __call__(self, params: Any, epoch: int) -> dict[str, float]:
        out = self._validate(params, np.int32(epoch), self.code_labels, self.prior_z)
        return {k: float(v) for k, v in jax.device_get(out).items()}
