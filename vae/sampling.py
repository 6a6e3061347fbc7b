"""Pictures from a VAE: samples and the 2-d data manifold (Questions 1.8 and 1.9)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from common import plotting, shapes
from common.shapes import Pixels4
from vae import models


def sample_images(model: models.VAE, params, key: jax.Array, num: int) -> tuple[Pixels4, jax.Array]:
    """`num` samples of the model: (pixels drawn, pixel means in 0..15)."""
    return model.apply({"params": params}, key, num, method=models.VAE.sample)


def manifold_latents(grid_size: int) -> jax.Array:
    """z at the normal ppf of percentiles (i + 0.5) / grid_size: [grid_size**2, 2] float32.

    Row r, column c of the grid is z = (ppf_c, ppf_{grid_size - 1 - r}): z_1 grows to the right
    and z_2 upwards, as in a plot.
    """
    ppf = norm.ppf((jnp.arange(grid_size) + 0.5) / grid_size)
    z1, z2 = jnp.meshgrid(ppf, ppf[::-1])
    return jnp.stack([z1.ravel(), z2.ravel()], axis=-1)


def visualize_manifold(model: models.VAE, params, grid_size: int) -> np.ndarray:
    """The decoded manifold_latents' pixel means tiled into one picture in [0, 1] (z_dim 2)."""
    if model.z_dim != 2:
        raise ValueError(f"the manifold needs z_dim == 2, got {model.z_dim}")
    means = manifold_means(params, model=model, grid_size=grid_size)
    return plotting.make_grid(np.asarray(means) / (shapes.NUM_VALUES - 1), nrow=grid_size)


@functools.partial(jax.jit, static_argnames=("model", "grid_size"))
def manifold_means(params, *, model: models.VAE, grid_size: int) -> jax.Array:
    """The decoded manifold_latents' pixel means, in 0..15."""
    logits = model.apply({"params": params}, manifold_latents(grid_size), method=models.VAE.decode)
    return models.pixel_means(logits)
