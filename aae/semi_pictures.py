"""The semi-supervised AAE's figures as images ([H, W, 3] float in [0, 1], what a trainer's
`model_pictures` returns): the confusion matrix and a grid with a label on each row."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from common import plotting

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure_pixels(fig: Figure) -> np.ndarray:
    """Renders a figure (no pyplot, no display): [H, W, 3] float32 in [0, 1]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0


def confusion_figure(matrix: np.ndarray, title: str) -> np.ndarray:
    """The counts of a confusion matrix int [L, L] (rows: labels, columns: predictions) as a
    shaded table with each count written in its cell."""
    fig = plotting.new_figure(5.5, 5)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    size = matrix.shape[0]
    dark = matrix.max() / 2 if matrix.max() else 1
    for i in range(size):
        for j in range(size):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix[i, j] > dark else "black",
            )
    ax.set(xticks=range(size), yticks=range(size), xlabel="predicted", ylabel="label", title=title)
    fig.tight_layout()
    return figure_pixels(fig)


def labelled_rows(rows: np.ndarray, row_labels: list[str], title: str) -> np.ndarray:
    """Images [R, C, 28, 28, 1] float in [0, 1] tiled a row each, its label at its left."""
    num_rows, num_cols = rows.shape[:2]
    grid = plotting.make_grid(rows.reshape(-1, *rows.shape[2:]), nrow=num_cols)
    height, width = grid.shape[:2]
    fig = plotting.new_figure(width / 40 + 1.6, height / 40 + 0.5)
    ax = fig.add_axes((1.5 / (width / 40 + 1.6), 0.0, 1 - 1.5 / (width / 40 + 1.6), 0.93))
    ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1)
    step = (height - 2) / num_rows  # plotting.make_grid's 2-pixel padding
    ax.set_yticks([2 + step * (r + 0.5) - 1 for r in range(num_rows)], row_labels, fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    fig.suptitle(title, fontsize=9)
    return figure_pixels(fig)
