"""README's figure: samples of two trained models and the latent plane of a z 2 one, side by side
(docs/figures/overview.png), drawn from the runs by `common.load`."""

from __future__ import annotations

import os

import jax
import numpy as np

from common import plotting
from common.train import kinds, run_files, workdir

FILE = "overview.png"
NUM_SAMPLES = 36  # a 6 x 6 grid per model
PLANE_SIDE = 12  # the z 2 plane: decoded z on a PLANE_SIDE x PLANE_SIDE grid


def plane(model: kinds.Model, side: int = PLANE_SIDE) -> np.ndarray:
    """The z 2 model's decoded z at the (i + 0.5) / side percentiles of N(0, 1) on each axis (z1
    to the right, z2 up): a [side * 30 + 2, side * 30 + 2, 1] grid in [0, 1]."""
    q = np.asarray(jax.scipy.stats.norm.ppf((np.arange(side) + 0.5) / side), np.float32)
    z1, z2 = np.meshgrid(q, q[::-1])  # row 0 is the largest z2: up
    decoded = np.asarray(model.decode(np.stack([z1.ravel(), z2.ravel()], axis=1)))
    return plotting.make_grid(decoded, nrow=side)


def write(samples: tuple[str, str], z2: str, folder_of, path: str) -> str | None:
    """Writes the figure to `path` from the runs named `samples` (two models' samples; a model's
    pixel means where it has them) and `z2` (its plane); `folder_of(name)` is a run's workdir.
    Returns the path, or None when one of the runs is not trained yet."""
    names = (*samples, z2)
    if not all(workdir.has_run(folder_of(name)) for name in names):
        return None
    fig = plotting.new_figure(12, 4.4)
    axes = fig.subplots(1, 3)
    for ax, name in zip(axes[:2], samples, strict=True):
        model = kinds.load(folder_of(name))
        grids = model.trainer.sample_grids(model.params, jax.random.key(0), NUM_SAMPLES)
        images = grids.get("samples" + run_files.PIXEL_MEANS, grids["samples"])
        ax.imshow(plotting.make_grid(np.asarray(images), nrow=6)[..., 0], cmap="gray")
        ax.set_title(f"{name}: samples (epoch {model.epoch})", fontsize=11)
    model = kinds.load(folder_of(z2))
    axes[2].imshow(plane(model)[..., 0], cmap="gray")
    axes[2].set_title(f"{z2}: the latent plane (z1 right, z2 up)", fontsize=11)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plotting.save_figure(fig, path)
    return path
