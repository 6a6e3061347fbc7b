"""What the pictures show: the test split (validation without one), and batched encodings."""

import numpy as np

from common import input_pipeline
from common.train import pictures


def dataset(with_test: bool) -> input_pipeline.Dataset:
    images = np.arange(5 * 784, dtype=np.uint8).reshape(5, 28, 28, 1)
    labels = np.arange(5)
    test = (images[:2], labels[:2]) if with_test else (None, None)
    return input_pipeline.Dataset(images, labels, images[2:], labels[2:], *test, source="x")


def test_the_pictures_show_the_test_split_or_the_validation_split_without_one():
    shown = pictures.Shown.of(dataset(with_test=True))
    assert shown.split == "test" and len(shown.images) == 2
    shown = pictures.Shown.of(dataset(with_test=False))
    assert shown.split == "val" and len(shown.images) == 3 and list(shown.labels) == [2, 3, 4]


def test_batched_covers_every_image_in_order():
    images = np.arange(7)[:, None]
    out = pictures.batched(lambda params, x: x * params, 2, images, batch_size=3)
    np.testing.assert_array_equal(out, images * 2)
