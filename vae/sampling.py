"""Pictures from a VAE: sample grids and the 2-d data manifold (Questions 1.8 and 1.9)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from common import images as image_utils
from common.input_pipeline import NUM_VALUES
from common.metric_writer import MetricWriter
from vae import models


def sample_images(model: models.VAE, params, key: jax.Array, num: int):
    """(draws [num, 28, 28, 1] int32 in 0..15, mean images [num, 28, 28, 1] float32 in 0..15)."""
    return model.apply({"params": params}, key, num, method=models.VAE.sample)


def manifold_latents(grid_size: int) -> jax.Array:
    """z at the normal ppf of percentiles (i + 0.5) / grid_size: [grid_size**2, 2] float32.

    Row r, column c of the grid is z = (ppf_c, ppf_{grid_size - 1 - r}): z_1 grows to the right
    and z_2 upwards, as in a plot.
    """
    ppf = norm.ppf((jnp.arange(grid_size) + 0.5) / grid_size)
    z1, z2 = jnp.meshgrid(ppf, ppf[::-1])
    return jnp.stack([z1.ravel(), z2.ravel()], axis=-1)


def visualize_manifold(model: models.VAE, params, grid_size: int = 20) -> np.ndarray:
    """Decodes a grid of z (see manifold_latents) to the mean of each pixel's categorical.

    Returns:
      [grid_size * 30 + 2, grid_size * 30 + 2, 1] float32 in [0, 1], one tiled picture.
    """
    if model.z_dim != 2:
        raise ValueError(f"the manifold needs z_dim == 2, got {model.z_dim}")
    logits = model.apply({"params": params}, manifold_latents(grid_size), method=models.VAE.decode)
    _, means = models.sample_pixels(jax.random.key(0), logits)
    return image_utils.make_grid(np.asarray(means) / (NUM_VALUES - 1), nrow=grid_size)


class Sampler:
    """Writes sample grids from one fixed prior draw, so epochs can be compared."""

    def __init__(self, model: models.VAE, key: jax.Array, num: int):
        self.model, self.key, self.num = model, key, num
        self._sample = jax.jit(lambda params: sample_images(model, params, key, num))

    def write(self, params, epoch: int, workdir: str, writer: MetricWriter | None = None):
        """Writes samples/epoch_{epoch}.png (pixels drawn) and epoch_{epoch}_mean.png."""
        draws, means = jax.device_get(self._sample(params))
        for suffix, imgs in (("", draws), ("_mean", means)):
            grid = image_utils.make_grid(np.asarray(imgs, np.float32) / (NUM_VALUES - 1))
            path = os.path.join(workdir, "samples", f"epoch_{epoch}{suffix}.png")
            image_utils.save_image(grid, path)
            if writer is not None:
                writer.write_image(epoch, f"samples{suffix}", grid)

    def write_manifold(self, params, grid_size: int, workdir: str, writer=None) -> None:
        grid = visualize_manifold(self.model, params, grid_size)
        image_utils.save_image(grid, os.path.join(workdir, "manifold.png"))
        if writer is not None:
            writer.write_image(0, "manifold", grid)
