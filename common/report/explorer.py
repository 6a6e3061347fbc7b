"""A static page to walk the latent plane of z 2 runs: the decoded image at the pointer, linked
across models (`common/report/explorer_page/` holds its HTML, script and style).

Per model, over one square shared by all (so a linked pointer means the same z): a sprite of
decoded mean images on a grid over plane_square, the first NUM_CODES test codes with their labels
and images, and PRIOR_POINTS prior draws. A model whose decoder reads a class y beside z (the
semi-supervised AAE: z is its style) has a sprite per class, on a coarser grid (class_grid), and
the page a class picker. data.js is a script, not fetched, so the page opens from file://.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from common import files, input_pipeline
from common.errors import CheckpointError, ConfigError
from common.train import kinds, run_files
from common.train import workdir as workdir_lib

GRID = 64  # tiles per side of a model's sprite (a class model's: class_grid)
NUM_CODES = 1000  # encoded digits shown per model
PRIOR_POINTS = 1500  # prior draws shown per model
STRIP = 12  # decoded points along a pinned line
MARGIN = 0.05  # the square's margin around the codes and draws, a share of its side
MAX_REACH = 2.0  # the square reaches at most this times the farthest prior draw (plane_square)
# A class model's tiles over all its sprites: a plain model's, so that its page is no bigger
# (10 classes get 20 x 20 tiles each, 30 get 11 x 11).
CLASS_TILES = GRID * GRID
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "explorer_page")
PAGE_FILES = ("index.html", "explorer.js", "explorer.css")
DATA_FILE = "data.js"


@dataclasses.dataclass(frozen=True)
class Model:
    """A restored z 2 run and what the page shows of it."""

    name: str
    title: str
    trainer: Any
    params: Any
    codes: np.ndarray  # [N, 2] float32, the means of q(z|x) / the encoder's codes (z alone)
    labels: np.ndarray  # [N] int, -1 where the data has none
    images: np.ndarray  # [N, 28, 28] uint8, the encoded digits
    prior: np.ndarray  # [PRIOR_POINTS, 2] float32
    classes: tuple[str, ...] = ()  # the class y's names where the decoder reads one beside z
    predicted: np.ndarray | None = None  # [N] int, each digit's most probable class (with classes)

    @property
    def grid(self) -> int:
        """Tiles per side of each of its sprites."""
        return class_grid(len(self.classes)) if self.classes else GRID


def load(
    workdir: str,
    *,
    epoch: int | None = None,
    name: str | None = None,
    title: str | None = None,
    seed: int = 0,
) -> Model:
    """Restores a z 2 run and encodes its digits; CheckpointError when there is no run or no
    checkpoint of `epoch`, ConfigError when its z_dim is not 2 or no prior shapes its z."""
    if not os.path.isdir(workdir) or not workdir_lib.has_run(workdir):
        raise CheckpointError(f"{workdir} holds no run (no checkpoints)")
    config = kinds.read_config(workdir)
    if config.z_dim != 2:
        raise ConfigError(
            f"{workdir} has z_dim {config.z_dim}: the explorer walks a 2-D latent plane "
            "(configs/vae_z2.py, ae_z2.py, aae_z2*.py, aae_semi_*.py, aae_cluster_30.py)"
        )
    trainer, state, epoch = kinds.restore(workdir, epoch)
    if not trainer.matches_prior:
        raise ConfigError(
            f"{workdir} holds a model whose z no prior shapes and no decoder reads (the "
            "supervised baseline): its plane has nothing to walk"
        )
    data = input_pipeline.load_dataset(trainer.config.data)
    images, labels = (
        (data.test_images, data.test_labels)
        if data.test_images is not None
        else (data.val_images, data.val_labels)
    )
    images = images[:NUM_CODES]
    labels = np.full(len(images), -1) if labels is None else labels[:NUM_CODES]
    # A code's first z_dim columns are z (a class model's are (z, q(y|x))): the plane shows z.
    codes = np.asarray(jax.jit(trainer.encode)(state.params, jnp.asarray(images)))
    z, y = codes[:, : config.z_dim], codes[:, config.z_dim :]
    classes = tuple(trainer.class_names(state.params, data))
    prior = np.asarray(trainer.prior.sample(jax.random.key(seed), PRIOR_POINTS))
    name = name or os.path.basename(os.path.normpath(workdir))
    return Model(
        name=name,
        title=title or f"{name} ({trainer.kind}, {trainer.prior.name} prior, epoch {epoch})",
        trainer=trainer,
        params=state.params,
        codes=z,
        labels=np.asarray(labels, np.int64),
        images=images[..., 0],
        prior=prior,
        classes=classes,
        predicted=np.argmax(y, axis=-1) if classes else None,
    )


def plane_square(models: Sequence[Model]) -> tuple[float, float]:
    """(lo, hi): the square over every model's prior draws and central 98% of codes, plus
    MARGIN, at most MAX_REACH times the farthest prior draw (a plain AE's codes at +-20 would
    leave the others a few tiles); codes beyond sit on the border."""
    draws = np.concatenate([m.prior for m in models])
    codes = [np.percentile(m.codes, [1, 99], axis=0) for m in models]
    points = np.concatenate([draws, *codes])
    reach = MAX_REACH * float(np.abs(draws).max())
    lo, hi = max(float(points.min()), -reach), min(float(points.max()), reach)
    pad = MARGIN * (hi - lo)
    return round(lo - pad, 4), round(hi + pad, 4)


def grid_latents(lo: float, hi: float, n: int) -> np.ndarray:
    """[n * n, 2]: tile (row, col)'s centre z = (lo + (col + 0.5) s, hi - (row + 0.5) s),
    s = (hi - lo) / n, row by row from the top."""
    s = (hi - lo) / n
    cols = lo + (np.arange(n) + 0.5) * s
    rows = hi - (np.arange(n) + 0.5) * s
    z1, z2 = np.meshgrid(cols, rows)
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype(np.float32)


def class_grid(num_classes: int) -> int:
    """Tiles per side of each class's sprite: CLASS_TILES over the classes."""
    return max(1, math.isqrt(CLASS_TILES // num_classes))


def sprite(images: np.ndarray, per_row: int) -> np.ndarray:
    """[N, 28, 28] uint8 tiles -> one [rows * 28, per_row * 28] picture, missing tiles black."""
    num, h, w = images.shape
    rows = math.ceil(num / per_row)
    out = np.zeros((rows * per_row, h, w), np.uint8)
    out[:num] = images
    return out.reshape(rows, per_row, h, w).transpose(0, 2, 1, 3).reshape(rows * h, per_row * w)


def decoded_tiles(
    model: Model, lo: float, hi: float, n: int, class_index: int | None = None
) -> np.ndarray:
    """The decoder's mean images at grid_latents, with the one-hot class y of `class_index`
    after z for a class model: [n * n, 28, 28] uint8 (round(255 x))."""
    decode = jax.jit(model.trainer.decode)
    z = grid_latents(lo, hi, n)
    if class_index is not None:
        y = np.eye(len(model.classes), dtype=np.float32)[class_index]
        z = np.concatenate([z, np.broadcast_to(y, (len(z), len(y)))], axis=-1)
    out = [
        np.asarray(decode(model.params, jnp.asarray(z[i : i + 1024])))
        for i in range(0, len(z), 1024)
    ]
    return np.round(np.clip(np.concatenate(out)[..., 0], 0, 1) * 255).astype(np.uint8)


def _save_png(pixels: np.ndarray, path: str) -> None:
    with files.replacing(path, "wb") as f:
        Image.fromarray(pixels).save(f, format="PNG", optimize=True)


def tile_files(model: Model) -> list[str]:
    """The file names of the model's sprites: one, or one per class."""
    if not model.classes:
        return [f"{model.name}_tiles.png"]
    return [f"{model.name}_tiles_{k}.png" for k in range(len(model.classes))]


def write_page(models: Sequence[Model], out_dir: str, n: int | None = None) -> str:
    """Writes (or replaces) the page of `models` in `out_dir`; the path of its index.html. `n`:
    tiles per side of every sprite (a test's small page); None: each model's own grid."""
    lo, hi = plane_square(models)
    os.makedirs(out_dir, exist_ok=True)
    per_row = math.ceil(math.sqrt(NUM_CODES))
    entries = []
    for model in models:
        # Models of the same data show the same digits: one file, named by its content.
        digest = hashlib.sha256(model.images.tobytes()).hexdigest()[:12]
        tiles, digits = tile_files(model), f"digits_{digest}.png"
        side = n or model.grid
        for k, name in enumerate(tiles):
            pixels = decoded_tiles(model, lo, hi, side, k if model.classes else None)
            _save_png(sprite(pixels, side), os.path.join(out_dir, name))
        _save_png(sprite(model.images, per_row), os.path.join(out_dir, digits))
        entries.append(
            {
                "name": model.name,
                "title": model.title,
                "n": side,
                "tiles": tiles,
                "classes": list(model.classes),
                "predicted": [] if model.predicted is None else model.predicted.tolist(),
                "digits": digits,
                "digits_per_row": per_row,
                "codes": np.round(model.codes, 4).tolist(),
                "labels": model.labels.tolist(),
                "prior": np.round(model.prior, 3).tolist(),
            }
        )
    data = {"grid": {"lo": lo, "hi": hi, "tile": 28}, "strip": STRIP, "models": entries}
    data_js = "window.EXPLORER_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n"
    files.write_text(os.path.join(out_dir, DATA_FILE), data_js)
    for name in PAGE_FILES:
        files.copy(os.path.join(PAGE, name), os.path.join(out_dir, name))
    return os.path.join(out_dir, "index.html")


def inline_html(out_dir: str) -> str:
    """The page in `out_dir` as one HTML string, everything inlined: Colab does not load an IFrame
    of a local file."""
    with open(os.path.join(out_dir, DATA_FILE)) as f:
        data_js = f.read()
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(".png"):
            with open(os.path.join(out_dir, name), "rb") as f:
                uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
            data_js = data_js.replace(f'"{name}"', json.dumps(uri))
    with open(os.path.join(out_dir, "index.html")) as f:
        html = f.read()
    with open(os.path.join(out_dir, "explorer.css")) as f:
        html = html.replace(
            '<link rel="stylesheet" href="explorer.css">', f"<style>\n{f.read()}</style>"
        )
    with open(os.path.join(out_dir, "explorer.js")) as f:
        script = f.read()
    html = html.replace('<script src="data.js"></script>', f"<script>\n{data_js}</script>")
    return html.replace('<script src="explorer.js"></script>', f"<script>\n{script}</script>")


def default_out(workdir: str) -> str:
    return os.path.join(workdir, run_files.EXPLORER)
