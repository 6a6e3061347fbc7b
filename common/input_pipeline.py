"""Data: load MNIST-like images once, split them, and transform them on device.

Two sources, chosen by `config.data`:
- `data.dir == ""`: tensorflow-datasets (`tfds.data_source`, no TensorFlow needed),
  downloaded and cached on first use.
- `data.dir = "path"`: a folder of the standard IDX files (`train-images-idx3-ubyte[.gz]`,
  `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`),
  as MNIST and Fashion-MNIST ship them.

Everything returned is host numpy; the training loops put the uint8 arrays on the device once
(MNIST is 47 MB) and transform each batch inside the compiled step.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from common.errors import DataError

IMAGE_SHAPE = (28, 28, 1)
NUM_VALUES = 16  # 4-bit images
DATASETS = ("mnist", "fashion_mnist")
VAL_FRACTION = 0.1  # 60,000 -> 54,000 train / 6,000 validation

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Images as uint8 [N, 28, 28, 1] in 0..255 and labels as int32 [N] (or None).

    `test_images` is None when the source has no separate test split (t10k-only folders).
    """

    train_images: np.ndarray
    train_labels: np.ndarray | None
    val_images: np.ndarray
    val_labels: np.ndarray | None
    test_images: np.ndarray | None
    test_labels: np.ndarray | None
    source: str

    def describe(self) -> str:
        test = "no test set" if self.test_images is None else f"{len(self.test_images)} test"
        return f"{self.source}: {len(self.train_images)} train, {len(self.val_images)} val, {test}"


# ----------------------------------------------------------------------------- IDX files


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Reads an IDX file (optionally gzip-compressed) of unsigned bytes into numpy.

    Args:
      path: file path; `.gz` files are decompressed.
      ndim: expected number of dimensions (3 for images, 1 for labels).

    Returns:
      uint8 array of the shape in the file's header.

    Raises:
      DataError: unreadable or truncated file, wrong magic number, wrong size.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({e or type(e).__name__})") from None
    expected_magic = 0x0800 + ndim
    if len(raw) < 4:
        raise DataError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != expected_magic:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(unsigned bytes, {ndim} dimensions)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    body = raw[header:]
    if len(body) != int(np.prod(dims)):
        raise DataError(
            f"{path}: truncated or oversized: header says {dims} ({int(np.prod(dims))} bytes) "
            f"but the file holds {len(body)} bytes of data"
        )
    return np.frombuffer(body, np.dtype(_IDX_DTYPES[0x08])).reshape(dims)


def _find(data_dir: str, split: str, kind: str, ndim: int) -> str | None:
    for ext in (".gz", ""):
        path = os.path.join(data_dir, f"{split}-{kind}-idx{ndim}-ubyte{ext}")
        if os.path.exists(path):
            return path
    return None


def _read_split(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Returns (uint8 [N, 28, 28, 1], int32 [N] or None) for 'train' or 't10k', None if absent."""
    image_path = _find(data_dir, split, "images", 3)
    if image_path is None:
        return None
    images = read_idx(image_path, ndim=3)
    if images.shape[1:] != IMAGE_SHAPE[:2]:
        raise DataError(f"{image_path}: images are {images.shape[1:]}, expected {IMAGE_SHAPE[:2]}")
    label_path = _find(data_dir, split, "labels", 1)
    labels = None
    if label_path is not None:
        labels = read_idx(label_path, ndim=1).astype(np.int32)
        if len(labels) != len(images):
            raise DataError(
                f"{label_path}: {len(labels)} labels but {image_path} has {len(images)} images"
            )
    return images[..., None], labels


def load_idx_folder(data_dir: str) -> tuple[tuple, tuple | None]:
    """Reads the train and t10k splits of an IDX folder: ((images, labels), test or None)."""
    if not os.path.isdir(data_dir):
        raise DataError(f"data folder {data_dir} does not exist")
    train, test = _read_split(data_dir, "train"), _read_split(data_dir, "t10k")
    if train is None and test is None:
        raise DataError(
            f"{data_dir}: no IDX image files (train-images-idx3-ubyte[.gz] or "
            "t10k-images-idx3-ubyte[.gz])"
        )
    if train is None:
        logging.warning(
            "%s holds only the t10k files: splitting them 90/10 into train/val; no test set.",
            data_dir,
        )
        return test, None
    return train, test


# ----------------------------------------------------------------------------- tfds


def load_tfds(name: str, data_dir: str | None = None) -> tuple[tuple, tuple]:
    """Reads all of a tfds image dataset's train and test splits into memory."""
    import tensorflow_datasets as tfds  # slow import; only this source needs it

    try:
        sources = tfds.data_source(name, data_dir=data_dir)
    except Exception as e:  # tfds raises many types for "no network", "no space", ...
        raise DataError(
            f"could not load tfds dataset '{name}' ({type(e).__name__}: {str(e)[:200]}). "
            "Ways to supply data: (1) run once on a machine with network access so tfds can "
            "download and cache it (TFDS_DATA_DIR chooses where), or (2) download the four IDX "
            "files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into a folder and pass "
            "--config.data.dir=FOLDER."
        ) from None

    def read(split):
        source = sources[split]
        records = [source[i] for i in range(len(source))]
        images = np.stack([r["image"] for r in records]).astype(np.uint8)
        labels = np.asarray([r["label"] for r in records], np.int32)
        return images.reshape((-1, *IMAGE_SHAPE)), labels

    return read("train"), read("test")


# ----------------------------------------------------------------------------- splits


def load_dataset(data_config: ml_collections.ConfigDict) -> Dataset:
    """Loads, splits and limits the data that `config.data` names.

    Args:
      data_config: `name` (one of DATASETS; tfds only), `dir` ("" = tfds), `split_seed`,
        `limit` (0 = all training images).

    Returns:
      Dataset with a seeded 90/10 train/val split of the training images.
    """
    if data_config.dir:
        train, test = load_idx_folder(os.path.expanduser(data_config.dir))
        source = f"IDX folder {data_config.dir}"
    else:
        train, test = load_tfds(data_config.name)
        source = f"tfds {data_config.name}"
    images, labels = train
    perm = np.random.default_rng(data_config.split_seed).permutation(len(images))
    num_val = int(round(VAL_FRACTION * len(images)))
    train_idx, val_idx = perm[num_val:], perm[:num_val]
    if data_config.limit:
        train_idx = train_idx[: data_config.limit]
    pick = lambda a, idx: None if a is None else a[idx]  # noqa: E731
    return Dataset(
        train_images=images[train_idx],
        train_labels=pick(labels, train_idx),
        val_images=images[val_idx],
        val_labels=pick(labels, val_idx),
        test_images=None if test is None else test[0],
        test_labels=None if test is None else test[1],
        source=source,
    )


# ----------------------------------------------------------------------------- transforms


def quantize_4bit(images: jax.Array) -> jax.Array:
    """uint8 [..., 28, 28, 1] in 0..255 -> int32 in 0..15: min(floor(pixel / 255 * 16), 15).

    Integer arithmetic gives exactly the assignment's float formula: 16 * p / 255 is an
    integer only at p = 0 and p = 255, so no float rounding can land on a bin edge.
    """
    return jnp.minimum(images.astype(jnp.int32) * NUM_VALUES // 255, NUM_VALUES - 1)


def to_tanh_range(images: jax.Array) -> jax.Array:
    """uint8 in 0..255 -> float32 in [-1, 1] ((x / 255 - 0.5) / 0.5), for the AAE."""
    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def epoch_batches(key: jax.Array, epoch: int | jax.Array, num_images: int, batch_size: int):
    """Shuffled batch indices of one epoch, a function of (key, epoch) only.

    The last partial batch is dropped (as the assignment's DataLoader does), so every training
    step sees a full batch and the step compiles once.

    Returns:
      int32 [num_images // batch_size, batch_size].
    """
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), num_images)
    num_batches = num_images // batch_size
    return perm[: num_batches * batch_size].reshape(num_batches, batch_size)


def eval_batches(num_images: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and mask that cover every image once, the last batch padded.

    Returns:
      (int32 [num_batches, batch_size] indices, bool [num_batches, batch_size] mask); padded
      slots repeat index 0 and have mask False.
    """
    num_batches = -(-num_images // batch_size)
    flat = np.arange(num_batches * batch_size)
    mask = flat < num_images
    idx = np.where(mask, flat, 0).astype(np.int32)
    return idx.reshape(num_batches, batch_size), mask.reshape(num_batches, batch_size)
