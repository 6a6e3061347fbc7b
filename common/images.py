"""Image grids and figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common import parallel  # noqa: E402


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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    grid = np.clip(grid, 0.0, 1.0)
    if title is None:
        plt.imsave(path, grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        return
    h, w = grid.shape[:2]
    fig = plt.figure(figsize=(w / 50, h / 50 + 0.4), dpi=100)
    ax = fig.add_axes((0, 0, 1, h / (h + 20)))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
    fig.suptitle(title, fontsize=9, y=0.995)
    fig.savefig(path)
    plt.close(fig)


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
    if not parallel.is_main_process():
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
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
    fig.savefig(path)
    plt.close(fig)
