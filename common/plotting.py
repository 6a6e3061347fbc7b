"""Image grids and figures, written to PNG files.

Figures are `matplotlib.figure.Figure` objects saved directly, never pyplot's: no display is
needed, and the package never switches matplotlib's backend, so a notebook that imports it keeps
its inline figures.
"""

from __future__ import annotations

import os

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure

from common import errors, parallel


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A figure of width x height inches that belongs to no pyplot window (and needs none)."""
    return Figure(figsize=(width, height), dpi=dpi)


def save_figure(fig: Figure, path: str) -> None:
    """Writes `fig` to `path` (a PNG), creating its folder; only the main process writes."""
    if not parallel.is_main_process():
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with errors.writing(path):
        fig.savefig(path)


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: float = 1.0):
    """Tiles images into one picture, row by row.

    Args:
      images: [N, H, W, C] float in [0, 1].
      nrow: images per row.
      padding: pixels between images and around the border.
      pad_value: value of the padding pixels.

    Returns:
      [rows * (H + padding) + padding, nrow * (W + padding) + padding, C] float32.
    """
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.full(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c),
        pad_value,
        np.float32,
    )
    for i, image in enumerate(images):
        r, k = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + k * (w + padding)
        grid[y : y + h, x : x + w] = image
    return grid


def save_image(grid: np.ndarray, path: str, title: str | None = None) -> None:
    """Writes an [H, W, 1 or 3] float image in [0, 1] to a PNG, grey for one channel."""
    if not parallel.is_main_process():
        return
    grid = np.clip(grid, 0.0, 1.0)
    pixels = grid[..., 0] if grid.shape[-1] == 1 else grid
    if title is None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with errors.writing(path):
            matplotlib.image.imsave(path, pixels, cmap="gray", vmin=0, vmax=1)
        return
    h, w = grid.shape[:2]
    fig = new_figure(w / 50, h / 50 + 0.4)
    ax = fig.add_axes((0, 0, 1, h / (h + 20)))
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    fig.suptitle(title, fontsize=9, y=0.995)
    save_figure(fig, path)


def save_grid(images: np.ndarray, path: str, nrow: int = 8, title: str | None = None) -> None:
    """Tiles [N, H, W, C] images in [0, 1] (see make_grid) and writes them to a PNG."""
    save_image(make_grid(images, nrow=nrow), path, title)


def save_curves(
    path: str,
    curves: dict[str, tuple[list, list]],
    ylabel: str,
    title: str,
    hlines: dict[str, float] | None = None,
) -> None:
    """Line plot of named (x, y) curves against epoch, with optional labelled horizontal lines."""
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for name, (x, y) in curves.items():
        if len(x):
            ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=name)
    for i, (name, value) in enumerate((hlines or {}).items()):
        ax.axhline(value, color=f"C{len(curves) + i}", linestyle="--", label=f"{name} {value:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def write_grid(imgs: np.ndarray, path: str, writer=None, tag: str = "", step: int = 0, nrow=8):
    """Tiles [N, H, W, C] images in [0, 1] into the PNG `path` and, given a MetricWriter, into
    TensorBoard as `tag` at `step`."""
    grid = make_grid(np.asarray(imgs, np.float32), nrow=nrow)
    save_image(grid, path)
    if writer is not None:
        writer.write_image(step, tag, grid)


def pick_digits(
    images: np.ndarray, labels: np.ndarray | None, num: int = 8
) -> tuple[np.ndarray, np.ndarray | None]:
    """The first image of each label 0..num-1 (the first `num` images without labels).

    Returns:
      (uint8 [num, 28, 28, 1], int32 [num] labels or None).
    """
    if labels is None or len(np.unique(labels)) < num:
        return images[:num], None if labels is None else labels[:num]
    picked = np.asarray([np.argmax(labels == k) for k in range(num)])
    return images[picked], labels[picked]


def write_latent_scatter(
    path: str, z: np.ndarray, labels: np.ndarray | None, title: str, prior_z: np.ndarray
) -> None:
    """Codes z [N, 2] coloured by label over the prior's density: grey, the histogram of its
    draws prior_z [M, 2] (any prior the model can sample; common/priors.py)."""
    fig = new_figure(6, 6)
    ax = fig.subplots()
    lim = max(4.0, float(np.percentile(np.abs(z), 99.5)), float(np.max(np.abs(prior_z))))
    density, _, _ = np.histogram2d(
        prior_z[:, 0], prior_z[:, 1], bins=120, range=[[-lim, lim], [-lim, lim]]
    )
    ax.imshow(
        density.T,  # histogram2d's first axis is x; imshow's rows are y
        origin="lower",
        extent=(-lim, lim, -lim, lim),
        cmap="Greys",
        # Light: the codes drawn over it (label 7's tab10 colour is a grey too) stay visible.
        vmax=max(1.0, float(np.percentile(density[density > 0], 99))),
        alpha=0.3,
        interpolation="bilinear",
    )
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.8, linewidths=0)
    if labels is not None:
        fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="z1", ylabel="z2", title=title)
    ax.set_aspect("equal")
    fig.tight_layout()
    save_figure(fig, path)
