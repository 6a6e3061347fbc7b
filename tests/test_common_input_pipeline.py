"""Data: IDX reading and its errors, splits, 4-bit quantisation, batching."""

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import http.server
import math
import os
import socket
import threading
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import fake_digits, write_idx, write_mnist_folder

from common import input_pipeline
from common.errors import DataError


def data_config(folder, limit=0):
    return ml_collections.ConfigDict(
        dict(name="mnist", dir=str(folder), split_seed=42, limit=limit)
    )


def test_quantize_4bit_matches_the_assignment_formula():
    pixels = jnp.array([0, 15, 16, 255], jnp.uint8)
    np.testing.assert_array_equal(input_pipeline.quantize_4bit(pixels), [0, 0, 1, 15])
    every = jnp.arange(256, dtype=jnp.uint8)
    expected = np.minimum(np.floor(np.arange(256) / 255 * 16), 15)
    np.testing.assert_array_equal(input_pipeline.quantize_4bit(every), expected)


def test_to_tanh_range_endpoints():
    out = input_pipeline.to_tanh_range(jnp.array([0, 255], jnp.uint8))
    np.testing.assert_allclose(out, [-1.0, 1.0])


def test_split_sizes_and_limit(mnist_dir):
    data = input_pipeline.load_dataset(data_config(mnist_dir))
    assert data.train_images.shape == (180, 28, 28, 1) and data.train_images.dtype == np.uint8
    assert data.val_images.shape == (20, 28, 28, 1)
    assert data.test_images.shape == (50, 28, 28, 1) and data.test_labels.shape == (50,)
    # train and val are disjoint and together are the training file
    all_images = np.concatenate([data.train_images, data.val_images])
    assert len(np.unique(all_images.reshape(200, -1), axis=0)) == 200
    limited = input_pipeline.load_dataset(data_config(mnist_dir, limit=32))
    np.testing.assert_array_equal(limited.train_images, data.train_images[:32])
    np.testing.assert_array_equal(limited.val_images, data.val_images)


def test_t10k_only_folder_is_split_90_10(tmp_path):
    folder = write_mnist_folder(tmp_path, num_test=100, splits=("t10k",))
    data = input_pipeline.load_dataset(data_config(folder))
    assert (len(data.train_images), len(data.val_images), data.test_images) == (90, 10, None)


def test_uncompressed_files_are_read(tmp_path):
    images, labels = fake_digits(20, 0)
    write_idx(str(tmp_path / "train-images-idx3-ubyte"), images)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte"), labels)
    (train_images, train_labels), test = input_pipeline.load_idx_folder(str(tmp_path))
    np.testing.assert_array_equal(train_images[..., 0], images)
    assert test is None


def _broken(tmp_path, kind):
    images, labels = fake_digits(10, 0)
    img = str(tmp_path / "train-images-idx3-ubyte.gz")
    lbl = str(tmp_path / "train-labels-idx1-ubyte.gz")
    if kind == "magic":
        write_idx(img, images, magic=0x0801)
    elif kind == "truncated":
        write_idx(img, images)
        with open(img, "rb") as f:
            raw = f.read()
        with open(img, "wb") as f:
            f.write(raw[: len(raw) // 2])
    elif kind == "short_payload":
        with gzip.open(img, "wb") as f:
            f.write(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    elif kind == "count":
        write_idx(img, images)
        write_idx(lbl, labels[:7])
    elif kind == "size":
        write_idx(img, np.zeros((10, 32, 32), np.uint8))
    return str(tmp_path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("magic", "wrong IDX magic number"),
        ("truncated", "cannot read"),
        ("short_payload", "truncated"),
        ("count", "7 labels but"),
        ("size", "expected (28, 28)"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, kind, message):
    folder = _broken(tmp_path, kind)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        input_pipeline.load_dataset(data_config(folder))
    assert folder in str(info.value)  # the message names the file


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        input_pipeline.load_dataset(data_config(tmp_path / "nope"))
    with pytest.raises(DataError, match="no IDX image files"):
        input_pipeline.load_dataset(data_config(tmp_path))


# ----------------------------------------------------------------------------- the download path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder):
    """Serves `folder` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def remote_files(folder, base_url):
    """RemoteFiles of the four IDX files in `folder` at `base_url`, checksums of the files."""
    files = {}
    for name in input_pipeline.IDX_FILES:
        data = (folder / name).read_bytes()
        files[name] = input_pipeline.RemoteFile(
            base_url + name, hashlib.sha256(data).hexdigest(), len(data)
        )
    return files


@pytest.fixture
def served_mnist(tmp_path, monkeypatch):
    """Small IDX files behind a loopback server, tfds's registry pointed at them, an empty cache.

    Yields (folder, base URL, files); the server stops when the `with` of the test ends.
    """
    folder = tmp_path / "served"
    write_mnist_folder(folder, num_train=100, num_test=40)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy of the machine cannot reach loopback
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return folder


def test_registered_files_are_tfds_official_urls_and_checksums():
    files = input_pipeline.registered_files("mnist")
    assert list(files) == list(input_pipeline.IDX_FILES)
    t10k = files["t10k-images-idx3-ubyte.gz"]
    assert (
        t10k.url == "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz"
    )
    # sha256 of the official file (the same as the MNIST test images this project was checked on)
    assert t10k.sha256 == "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    assert t10k.size == 1648877
    fashion = input_pipeline.registered_files("fashion_mnist")["train-images-idx3-ubyte.gz"]
    assert fashion.url.startswith("http://fashion-mnist.") and fashion.size == 26421880


def test_default_data_path_downloads_trains_then_reuses_the_cache(
    served_mnist, monkeypatch, tmp_path, tiny_vae_config
):
    from vae import train

    config = tiny_vae_config
    config.data.dir = ""  # the default: tfds's dataset config.data.name
    config.num_epochs = 1
    with serve(served_mnist) as url:
        files = remote_files(served_mnist, url)
        monkeypatch.setattr(input_pipeline, "registered_files", lambda name: files)
        final = train.train_and_evaluate(config, str(tmp_path / "run1"))
    assert math.isfinite(final["test_bpd"])
    cached = sorted(os.listdir(input_pipeline.download_dir()))
    assert sum(name.endswith(".gz") for name in cached) == 4

    # The server is gone: the next run's data comes from the cache, the same data.
    data = input_pipeline.load_dataset(config.data)
    assert (len(data.train_images), len(data.val_images), len(data.test_images)) == (90, 10, 40)
    images, _ = fake_digits(40, 1)  # what write_mnist_folder wrote as the test split
    np.testing.assert_array_equal(data.test_images[..., 0], images)


def test_a_damaged_cached_file_is_fetched_again(served_mnist, monkeypatch, caplog):
    with serve(served_mnist) as url:
        files = remote_files(served_mnist, url)
        paths = input_pipeline.download_idx_files("mnist", files)
        damaged = paths["train-images-idx3-ubyte.gz"]
        with open(damaged, "r+b") as f:
            f.truncate(100)
        again = input_pipeline.download_idx_files("mnist", files)
    assert again == paths
    assert (served_mnist / "train-images-idx3-ubyte.gz").read_bytes() == open(damaged, "rb").read()
    assert "does not match its checksum" in caplog.text
    # Damaged again, and now no server: one clear error, the damaged file never read.
    with open(damaged, "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataError, match="unreachable.*--config.data.dir"):
        input_pipeline.download_idx_files("mnist", files)


def test_offline_default_fails_at_once_with_one_line(served_mnist, monkeypatch):
    with serve(served_mnist) as url:
        files = remote_files(served_mnist, url)
    # The server has stopped: its port refuses connections, like a machine without network.
    monkeypatch.setattr(input_pipeline, "registered_files", lambda name: files)
    config = ml_collections.ConfigDict(dict(name="mnist", dir="", split_seed=42, limit=0))
    start = time.perf_counter()
    with pytest.raises(DataError, match="cannot download mnist: 127.0.0.1:[0-9]+ is unreachable"):
        input_pipeline.load_dataset(config)
    assert time.perf_counter() - start < 10


def test_a_download_that_does_not_match_its_checksum_is_refused(served_mnist):
    with serve(served_mnist) as url:
        files = remote_files(served_mnist, url)
        name = "train-images-idx3-ubyte.gz"  # the first: the other three still come
        files[name] = dataclasses.replace(files[name], sha256="0" * 64)
        with pytest.raises(DataError, match="cannot download mnist.*[Cc]hecksum"):
            input_pipeline.download_idx_files("mnist", files)
    # The three good files are cached; the bad one is not where a later run would look for it.
    cached = [f for f in os.listdir(input_pipeline.download_dir()) if f.endswith(".gz")]
    assert len(cached) == 3 and not any("train-images" in f for f in cached)


def test_epoch_batches_are_a_function_of_key_and_epoch():
    key = jax.random.key(3)
    a = input_pipeline.epoch_batches(key, 1, 100, 32)
    assert a.shape == (3, 32)
    np.testing.assert_array_equal(a, input_pipeline.epoch_batches(key, 1, 100, 32))
    assert len(np.unique(np.asarray(a))) == 96  # no repeats, the short batch dropped
    assert not np.array_equal(a, input_pipeline.epoch_batches(key, 2, 100, 32))


def test_eval_batches_cover_every_image_once():
    idx, mask = input_pipeline.eval_batches(10, 4)
    assert idx.shape == mask.shape == (3, 4)
    np.testing.assert_array_equal(np.sort(idx[mask]), np.arange(10))
    assert mask.sum() == 10


def test_idx_files_roundtrip(tmp_path):
    images, _ = fake_digits(5, 0)
    path = write_idx(str(tmp_path / "x-idx3-ubyte.gz"), images)
    np.testing.assert_array_equal(input_pipeline.read_idx(path, 3), images)
    assert os.path.exists(path)


def test_through_a_proxy_the_proxy_is_what_must_answer(monkeypatch):
    import urllib.request

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(urllib.request, "getproxies", lambda: {"http": f"http://127.0.0.1:{port}"})
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DataError, match=f"127.0.0.1:{port} is unreachable"):
        input_pipeline._check_reachable(["http://mnist.example.invalid/x.gz"], "mnist")
    # A host NO_PROXY names is reached directly, as requests reaches it.
    monkeypatch.setenv("no_proxy", "mnist.example.invalid")
    with pytest.raises(DataError, match="mnist.example.invalid:80 is unreachable"):
        input_pipeline._check_reachable(["http://mnist.example.invalid/x.gz"], "mnist")


def test_the_download_and_the_idx_folder_give_the_same_splits(served_mnist, monkeypatch):
    # The published numbers read an IDX folder; README's default command downloads through
    # tfds's registry. The same files give the same arrays, split for split.
    with serve(served_mnist) as url:
        files = remote_files(served_mnist, url)
        monkeypatch.setattr(input_pipeline, "registered_files", lambda name: files)
        config = ml_collections.ConfigDict(dict(name="mnist", dir="", split_seed=42, limit=0))
        downloaded = input_pipeline.load_dataset(config)
    config.dir = str(served_mnist)
    folder = input_pipeline.load_dataset(config)
    for field in ("train_images", "train_labels", "val_images", "val_labels"):
        np.testing.assert_array_equal(getattr(downloaded, field), getattr(folder, field))
    np.testing.assert_array_equal(downloaded.test_images, folder.test_images)
    np.testing.assert_array_equal(downloaded.test_labels, folder.test_labels)
    assert len(folder.train_images) == 90 and len(folder.test_images) == 40
    # The download is the registered files (checksums checked); this folder is not MNIST's.
    assert downloaded.official == "mnist" and folder.official is None


def test_a_folder_is_official_when_its_contents_hash_to_the_official_files(tmp_path, monkeypatch):
    folder = tmp_path / "copy"
    write_mnist_folder(folder, num_train=100, num_test=40)
    # idx_digest of what was read back is the SHA-256 of each file uncompressed: the digests the
    # official data sets publish (a copy's .gz bytes may differ, its contents may not).
    digests = tuple(
        hashlib.sha256(gzip.open(folder / name).read()).hexdigest()
        for name in input_pipeline.IDX_FILES
    )
    config = ml_collections.ConfigDict(dict(name="mnist", dir=str(folder), split_seed=42, limit=0))
    assert input_pipeline.load_dataset(config).official is None
    monkeypatch.setitem(input_pipeline.OFFICIAL, "mnist", digests)
    assert input_pipeline.load_dataset(config).official == "mnist"
    # One image changed, the same .gz names: not the official files.
    images, _ = fake_digits(40, 1)
    images[3, 10, 10] ^= 1
    write_idx(str(folder / "t10k-images-idx3-ubyte.gz"), images)
    assert input_pipeline.load_dataset(config).official is None
