"""Data: load MNIST-like images once as host numpy, split them, transform batches on device.

The IDX files come from `config.data.dir` (`{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`)
or, when it is empty, tfds's DownloadManager for `data.name`, checked against tfds's checksums
(no TensorFlow needed). The loops put the uint8 images on the devices once (MNIST is 47 MB).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import socket
import struct
import urllib.parse
import urllib.request
import zlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from common import shapes
from common.errors import DataError
from common.shapes import ImagesU8, Labels, Pixels4, TanhImages

DATASETS = ("mnist", "fashion_mnist")
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}  # as a document names them
VAL_FRACTION = 0.1  # 60,000 -> 54,000 train / 6,000 validation


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Images and labels of each split; labels None without label files, test None for a
    t10k-only folder."""

    train_images: ImagesU8
    train_labels: Labels | None
    val_images: ImagesU8
    val_labels: Labels | None
    test_images: ImagesU8 | None
    test_labels: Labels | None
    source: str
    official: str | None = None  # "mnist": the splits are the official MNIST files' (OFFICIAL)

    def describe(self) -> str:
        test = "no test set" if self.test_images is None else f"{len(self.test_images)} test"
        return f"{self.source}: {len(self.train_images)} train, {len(self.val_images)} val, {test}"


# ----------------------------------------------------------------------------- IDX files


def read_idx(path: str, ndim: int) -> np.ndarray:
    """An IDX file of bytes with `ndim` dimensions (gzip or not) -> uint8 array; DataError if
    it is unreadable, truncated, or of the wrong magic number or size."""
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"  # gzip's magic, whatever the file's name
        with (gzip.open if compressed else open)(path, "rb") as f:
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
    return np.frombuffer(body, np.uint8).reshape(dims)


def _find(data_dir: str, split: str, kind: str, ndim: int) -> str | None:
    for ext in (".gz", ""):
        path = os.path.join(data_dir, f"{split}-{kind}-idx{ndim}-ubyte{ext}")
        if os.path.exists(path):
            return path
    return None


def read_split(image_path: str, label_path: str | None) -> tuple[ImagesU8, Labels | None]:
    """One split's IDX files -> (images, labels or None); DataError if a file is unreadable or
    malformed, images are not 28 x 28, or the counts differ."""
    images = read_idx(image_path, ndim=3)
    if images.shape[1:] != shapes.IMAGE_SHAPE[:2]:
        raise DataError(
            f"{image_path}: images are {images.shape[1:]}, expected {shapes.IMAGE_SHAPE[:2]}"
        )
    labels = None
    if label_path is not None:
        labels = read_idx(label_path, ndim=1).astype(np.int32)
        if len(labels) != len(images):
            raise DataError(
                f"{label_path}: {len(labels)} labels but {image_path} has {len(images)} images"
            )
        bad = np.flatnonzero((labels < 0) | (labels >= shapes.NUM_CLASSES))
        if len(bad):
            raise DataError(
                f"{label_path}: label {labels[bad[0]]} at index {bad[0]} (and {len(bad) - 1} "
                f"more) is not a class 0..{shapes.NUM_CLASSES - 1}"
            )
    return images[..., None], labels


def _read_folder_split(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray | None] | None:
    """read_split of 'train' or 't10k' in an IDX folder; None if its images are absent."""
    image_path = _find(data_dir, split, "images", 3)
    if image_path is None:
        return None
    return read_split(image_path, _find(data_dir, split, "labels", 1))


def load_idx_folder(data_dir: str) -> tuple[tuple, tuple | None]:
    """Reads the train and t10k splits of an IDX folder: ((images, labels), test or None)."""
    if not os.path.isdir(data_dir):
        raise DataError(f"data folder {data_dir} does not exist")
    train, test = _read_folder_split(data_dir, "train"), _read_folder_split(data_dir, "t10k")
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


# SHA-256 of the official files, uncompressed, in IDX_FILES' order: what a folder's contents must
# hash to for its numbers to be the official data set's (a copy's .gz bytes may differ by its
# compression; tfds's checksums are of the .gz files).
OFFICIAL = {
    "mnist": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}


def idx_digest(array: np.ndarray) -> str:
    """SHA-256 of `array` (uint8-valued; images [N, 28, 28, 1] or labels [N]) written as an
    uncompressed IDX file."""
    if array.ndim == 4:
        array = array[..., 0]
    header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
    return hashlib.sha256(header + np.ascontiguousarray(array, np.uint8).tobytes()).hexdigest()


def official_name(train: tuple, test: tuple | None) -> str | None:
    """The name in OFFICIAL whose four files these (images, labels) splits are, or None."""
    if test is None or train[1] is None or test[1] is None:
        return None
    digests = tuple(idx_digest(a) for split in (train, test) for a in split)
    return next((name for name, known in OFFICIAL.items() if digests == known), None)


# ----------------------------------------------------------------------------- downloads

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CONNECT_TIMEOUT_S = 10.0  # no answer within this: the network is down, say so at once


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file to download: where from and what it must hash to."""

    url: str
    sha256: str  # hex digest
    size: int  # bytes


def registered_files(name: str) -> dict[str, RemoteFile]:
    """{name in IDX_FILES: RemoteFile} from tfds's registry for `name` (its builders would need
    TensorFlow to prepare MNIST, so `read_idx` reads the files)."""
    import tensorflow_datasets as tfds  # imports lazily: about 0.3 s

    base = tfds.builder_cls(name).URL
    infos = tfds.download.checksums.get_all_url_infos()
    files = {}
    for filename in IDX_FILES:
        url = urllib.parse.urljoin(base, filename)
        info = infos[url]  # a KeyError here means tfds changed what it registers: a bug to fix
        files[filename] = RemoteFile(url, info.checksum, int(info.size))
    return files


def download_dir() -> str:
    """Where downloads are cached: TFDS_DATA_DIR/downloads (tfds's own default place)."""
    root = os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
    return os.path.join(os.path.expanduser(root), "downloads")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_reachable(urls: list[str], name: str) -> None:
    """DataError at once when a host (or its proxy) is unreachable, not after minutes of retries."""
    proxies = urllib.request.getproxies()

    def first_hop(url: str) -> str:
        if urllib.request.proxy_bypass(_host_port(url)[0]):
            return url
        return proxies.get(_scheme(url)) or url

    for host, port in sorted({_host_port(first_hop(url)) for url in urls}):
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise DataError(
                f"cannot download {name}: {host}:{port} is unreachable ({e.strerror or e}). "
                + _OFFLINE_HINT
            ) from None


def _scheme(url: str) -> str:
    return urllib.parse.urlsplit(url).scheme


def _host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


_OFFLINE_HINT = (
    "Without network, put the four IDX files (train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a "
    "folder and pass --config.data.dir=FOLDER."
)


def download_idx_files(name: str, files: dict[str, RemoteFile] | None = None) -> dict[str, str]:
    """{file name: local path} of `name`'s IDX files, fetched into the cache when missing or
    damaged (no network when all are cached). DataError: no network, a server error, or a
    download that does not match its checksum."""
    import tensorflow_datasets as tfds

    files = registered_files(name) if files is None else files
    cache = download_dir()
    paths, missing = {}, {}
    for filename, remote in files.items():
        # DownloadManager's own cache layout: DIR/<url and checksum>, beside a .INFO file.
        path = os.path.join(cache, tfds.download.resource.get_dl_fname(remote.url, remote.sha256))
        if os.path.exists(path) and _sha256(path) == remote.sha256:
            paths[filename] = path
            continue
        if os.path.exists(path):
            logging.warning("%s: does not match its checksum (damaged?); fetching it again.", path)
            for stale in (path, path + ".INFO"):
                if os.path.exists(stale):
                    os.remove(stale)
        missing[filename] = remote
    if not missing:
        return paths

    urls = [remote.url for remote in missing.values()]
    _check_reachable(urls, name)
    logging.info("Downloading %s into %s: %s", name, cache, ", ".join(missing))
    manager = tfds.download.DownloadManager(
        download_dir=cache,
        url_infos={
            r.url: tfds.download.checksums.UrlInfo(size=r.size, checksum=r.sha256, filename=f)
            for f, r in missing.items()
        },
    )
    # One file at a time, each to the end: a failure leaves no download running behind it, and
    # the files that did arrive stay cached for the next run.
    errors = []
    for filename, remote in missing.items():
        try:
            path = os.fspath(manager.download(remote.url))
        except Exception as e:  # tfds and requests raise many types: HTTP errors, resets, checksums
            first_line = (str(e).strip().splitlines() or [""])[0][:300]
            errors.append(f"{filename}: {type(e).__name__}: {first_line}")
            continue
        if _sha256(path) != remote.sha256:  # tfds checked it; a second look costs milliseconds
            raise DataError(f"{path}: downloaded, but does not match its registered checksum")
        paths[filename] = path
    if errors:
        raise DataError(f"cannot download {name}: " + "; ".join(errors))
    return paths


def load_downloaded(name: str) -> tuple[tuple, tuple]:
    """Downloads (or finds cached) the IDX files of `name`: ((train images, labels), test)."""
    paths = download_idx_files(name)
    return tuple(
        read_split(paths[f"{split}-images-idx3-ubyte.gz"], paths[f"{split}-labels-idx1-ubyte.gz"])
        for split in ("train", "t10k")
    )


def file_checksums(data_config: ml_collections.ConfigDict) -> dict[str, str]:
    """{file name: SHA-256} of the IDX files `config.data` reads: what caches are keyed by."""
    if not data_config.dir:
        return {name: f.sha256 for name, f in registered_files(data_config.name).items()}
    data_dir = os.path.expanduser(data_config.dir)
    found = {}
    for split in ("train", "t10k"):
        for kind, ndim in (("images", 3), ("labels", 1)):
            path = _find(data_dir, split, kind, ndim)
            if path is not None:
                found[os.path.basename(path)] = _sha256(path)
    if not found:
        raise DataError(f"{data_dir}: no IDX files")
    return found


# ----------------------------------------------------------------------------- splits


def load_dataset(data_config: ml_collections.ConfigDict) -> Dataset:
    """The data `config.data` names, its training images split 90/10 by `split_seed` into
    train / val, then train cut to `limit` images (0: all)."""
    if data_config.dir:
        train, test = load_idx_folder(os.path.expanduser(data_config.dir))
        source = f"IDX folder {data_config.dir}"
        official = official_name(train, test)  # ~0.1 s for MNIST
    else:
        train, test = load_downloaded(data_config.name)
        source = f"tfds {data_config.name}"
        official = data_config.name  # the registered files, checked against their checksums
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
        official=official,
    )


# ----------------------------------------------------------------------------- transforms


def quantize_4bit(images: ImagesU8) -> Pixels4:
    """min(floor(pixel / 255 * 16), 15) in integers, exactly the assignment's float formula:
    16 * p / 255 is an integer only at p = 0 and 255, so no rounding can land on a bin edge."""
    return jnp.minimum(images.astype(jnp.int32) * shapes.NUM_VALUES // 255, shapes.NUM_VALUES - 1)


def to_tanh_range(images: ImagesU8) -> TanhImages:
    """(x / 255 - 0.5) / 0.5, the AAE's input."""
    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def epoch_batches(key: jax.Array, epoch: int | jax.Array, num_images: int, batch_size: int):
    """int32 [num_images // batch_size, batch_size]: one epoch's shuffled indices from (key,
    epoch); the partial batch is dropped, as the assignment's DataLoader does."""
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), num_images)
    num_batches = num_images // batch_size
    return perm[: num_batches * batch_size].reshape(num_batches, batch_size)


def eval_batches(num_images: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(int32 indices, bool mask), each [num_batches, batch_size], covering every image once;
    the last batch's padding repeats index 0 with mask False."""
    num_batches = -(-num_images // batch_size)
    flat = np.arange(num_batches * batch_size)
    mask = flat < num_images
    idx = np.where(mask, flat, 0).astype(np.int32)
    return idx.reshape(num_batches, batch_size), mask.reshape(num_batches, batch_size)
