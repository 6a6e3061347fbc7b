"""Image grids and figures: shapes and values of the grid, PNGs written, the backend untouched."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from common import plotting


def test_make_grid_tiles_row_by_row_with_padding():
    tiles = np.stack([np.full((2, 3, 1), v, np.float32) for v in (0.1, 0.2, 0.3)])
    grid = plotting.make_grid(tiles, nrow=2, padding=1, pad_value=1.0)
    assert grid.shape == (2 * (2 + 1) + 1, 2 * (3 + 1) + 1, 1)
    np.testing.assert_allclose(grid[1:3, 1:4, 0], 0.1)
    np.testing.assert_allclose(grid[1:3, 5:8, 0], 0.2)
    np.testing.assert_allclose(grid[4:6, 1:4, 0], 0.3)
    np.testing.assert_allclose(grid[4:6, 5:8, 0], 1.0)  # the empty slot stays padding
    assert grid[0].min() == 1.0 and grid[:, 4].min() == 1.0


def test_save_image_writes_the_grid_as_grey_pixels(tmp_path):
    grid = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5, 1)
    path = tmp_path / "sub" / "grid.png"
    plotting.save_image(grid, str(path))
    pixels = np.asarray(Image.open(path))
    assert pixels.shape[:2] == (4, 5)
    np.testing.assert_allclose(pixels[..., 0] / 255.0, grid[..., 0], atol=2 / 255)
    plotting.save_image(grid, str(tmp_path / "titled.png"), title="a title")
    assert os.path.getsize(tmp_path / "titled.png") > 0


def test_grids_are_upscaled_blocks_under_a_title(tmp_path):
    grid = np.linspace(0, 1, 12 * 40, dtype=np.float32).reshape(12, 40, 1)
    path = tmp_path / "big.png"
    plotting.save_image(grid, str(path), title="vae, epoch 2: 64 samples", scale=3)
    pixels = np.asarray(Image.open(path).convert("L"), np.float32) / 255.0
    h, w = pixels.shape
    assert w == 40 * 3 and h > 12 * 3  # the title's band is on top
    image = pixels[h - 36 :]  # the image fills the bottom, each pixel a 3 x 3 block
    np.testing.assert_allclose(image, np.kron(grid[..., 0], np.ones((3, 3))), atol=2 / 255)
    assert pixels[: h - 36].min() < 0.5  # dark text on the white band


def test_save_curves_writes_one_panel_per_axis(tmp_path):
    path = tmp_path / "curve.png"
    one = [("y", {"a": ([1, 2], [3.0, 2.0])}, {"test": 1.5})]
    plotting.save_curves(str(path), one, "t")
    three = one + [("z", {"b": ([1, 2], [0.5, 0.6])}, {}), ("w", {}, {})]
    plotting.save_curves(str(tmp_path / "three.png"), three, "t", note="epoch 0: a 4.0")
    assert Image.open(tmp_path / "three.png").size[1] > 2 * Image.open(path).size[1]


def test_no_module_switches_matplotlibs_backend(tmp_path):
    # A notebook's inline backend must survive importing and using the package.
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import common.plotting, common.report.results, vae.train, vae.log_likelihood\n"
        "import aae.train, vae.sampling\n"
        f"path = {str(tmp_path / 'c.png')!r}\n"
        "common.plotting.save_curves(path, [('y', {'a': ([0, 1], [1, 2])}, {})], 't')\n"
        "print(matplotlib.get_backend())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
