"""Data: IDX reading and its errors, splits, 4-bit quantisation, batching."""

import gzip
import os

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


def test_tfds_failure_lists_the_ways_to_supply_data(monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "data_source", offline)
    config = ml_collections.ConfigDict(dict(name="mnist", dir="", split_seed=42, limit=0))
    with pytest.raises(DataError, match="Ways to supply data.*--config.data.dir"):
        input_pipeline.load_dataset(config)


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
