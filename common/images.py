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

from common import parallel


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A figure of width x height inches that belongs to no pyplot window (and needs none)."""
    return Figure(figsize=(width, height), dpi=dpi)


def save_figure(fig: Figure, path: str) -> None:
    """Writes `fig` to `path` (a PNG), creating its folder; only the main process writes."""
    if not parallel.is_main_process():
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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
