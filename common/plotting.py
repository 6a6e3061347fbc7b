"""Image grids and figures, written to PNG files: matplotlib `Figure`s saved directly, never
pyplot's, so no display is needed and a notebook keeps its backend and inline figures.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from common import files, parallel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib is imported when a picture is drawn, not with this module: a run's start-up does
# not wait for it (a fresh machine builds its font cache on that first import).


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A figure of width x height inches that belongs to no pyplot window (and needs none)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=dpi)


def save_figure(fig: Figure, path: str) -> None:
    """Writes `fig` in the format of `path`'s ending, whole or not at all (main process only)."""
    if not parallel.is_main_process():
        return
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    with files.replacing(path, "wb") as f:
        fig.savefig(f, format=fmt)


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: float = 1.0):
    """Tiles [N, H, W, C] images in [0, 1], `nrow` a row, `padding` pixels of `pad_value`
    between and around them: float32 [rows * (H + padding) + padding, nrow * (W + padding) +
    padding, C]."""
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


SCALE = 3  # screen pixels per image pixel in the grids' PNGs: a digit is 84 x 84
_TITLE_LINE_PX = 16
_CHAR_PX = 6.5  # about one character of the titles' 9-point font


def save_image(grid: np.ndarray, path: str, title: str | None = None, scale: int = 1) -> None:
    """Writes an [H, W, 1 or 3] image in [0, 1] to a PNG (grey for one channel), each pixel a
    `scale` x `scale` block, under `title` wrapped to its width."""
    if not parallel.is_main_process():
        return
    grid = np.clip(grid, 0.0, 1.0)
    pixels = grid[..., 0] if grid.shape[-1] == 1 else grid
    pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    if title is None:
        import matplotlib.image

        with files.replacing(path, "wb") as f:
            matplotlib.image.imsave(f, pixels, cmap="gray", vmin=0, vmax=1, format="png")
        return
    h, w = pixels.shape[:2]
    lines = textwrap.wrap(title, max(20, int(w / _CHAR_PX)))
    top = _TITLE_LINE_PX * len(lines) + 6
    fig = new_figure(w / 100, (h + top) / 100)  # 100 dpi: one image pixel is `scale` pixels
    ax = fig.add_axes((0, 0, 1, h / (h + top)))
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.text(0.5, 1 - 3 / (h + top), "\n".join(lines), ha="center", va="top", fontsize=9)
    save_figure(fig, path)


def save_grid(
    images: np.ndarray, path: str, nrow: int = 8, title: str | None = None, scale: int = SCALE
) -> None:
    """make_grid, then save_image."""
    save_image(make_grid(images, nrow=nrow), path, title, scale)


Series = dict[str, tuple[Sequence[float], Sequence[float]]]  # legend -> (epochs, values)


def save_curves(
    path: str,
    panels: Sequence[tuple[str, Series, dict[str, float]]],
    title: str,
    note: str | None = None,
) -> None:
    """Curves against epoch, one panel per (y label, {legend: (x, y)}, {legend: dashed line's
    value}), the panels sharing the epoch axis; `note` under them in small print."""
    fig = new_figure(6.4, 0.9 + 2.4 * len(panels))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (ylabel, curves, hlines) in zip(axes, panels, strict=True):
        for i, (name, (x, y)) in enumerate(curves.items()):
            if len(x):
                marker = "o" if len(x) < 30 else None
                ax.plot(x, y, marker=marker, markersize=3, label=name, color=f"C{i}")
        for i, (name, value) in enumerate(hlines.items()):
            color = f"C{len(curves) + i}"
            ax.axhline(value, color=color, linestyle="--", label=f"{name}: {value:.4g}")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[-1].set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title(title)
    if note:
        fig.text(0.01, 0.005, note, fontsize=7.5, color="0.35", va="bottom")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    save_figure(fig, path)


def write_grid(
    imgs: np.ndarray, path: str, title: str, writer=None, tag: str = "", step: int = 0, nrow=8
):
    """make_grid into the PNG `path` (SCALE, under `title`) and, given a MetricWriter, into
    TensorBoard as `tag` at `step`."""
    grid = make_grid(np.asarray(imgs, np.float32), nrow=nrow)
    save_image(grid, path, title, SCALE)
    if writer is not None:
        writer.write_image(step, tag, grid)


def pick_digits(
    images: np.ndarray, labels: np.ndarray | None, num: int = 8
) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, labels or None) of the first image of each label 0..num-1 (without labels, or
    missing some: the first `num` images)."""
    if labels is None or len(np.unique(labels)) < num:
        return images[:num], None if labels is None else labels[:num]
    picked = np.asarray([np.argmax(labels == k) for k in range(num)])
    return images[picked], labels[picked]


def write_latent_scatter(
    path: str, z: np.ndarray, labels: np.ndarray | None, title: str, prior_z: np.ndarray
) -> None:
    """Codes z [N, 2] coloured by label over the prior's density: the histogram, in grey, of
    its draws prior_z [M, 2]."""
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
