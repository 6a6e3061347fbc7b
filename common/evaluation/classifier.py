"""A small convolutional digit classifier: how the sample-quality evaluation sees images.
Trained once per dataset (about a minute on a CPU; Inception would need downloaded weights and
299 x 299 colour), cached under a fingerprint of the data, split and recipe; its numbers compare
this project's runs, not papers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from common import errors, files, input_pipeline, nets, shapes
from common.errors import DataError, UserError
from common.shapes import ImagesU8, Labels, UnitImages

NUM_CLASSES = 10
FEATURES = 128  # the penultimate layer: what the Fréchet distance compares
# The recipe; any change to it (or to Net) must change RECIPE, so old caches are not used.
# 20 passes over the training images, 100 to 1,500 steps (MNIST t10k's 9,000 images: 1,406).
PASSES, MIN_STEPS, MAX_STEPS = 20, 100, 1500
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
RECIPE = (
    f"cnn32s2-64s2-{FEATURES}/adam{LEARNING_RATE}/batch{BATCH_SIZE}"
    f"/passes{PASSES}-steps{MIN_STEPS}-{MAX_STEPS}/v1"
)
PARAMS_FILE = "params.msgpack"
INFO_FILE = "classifier.json"


class Net(nn.Module):
    """Two stride-2 3 x 3 convs (32, 64), a dense layer of FEATURES, the logits; ReLU. Strided
    common.nets.Conv, not nn.Conv and pooling: a step is 70x faster on XLA:CPU."""

    @nn.compact
    def __call__(self, x: UnitImages) -> tuple[jax.Array, jax.Array]:
        """-> (features [B, FEATURES], logits [B, NUM_CLASSES])."""
        for channels in (32, 64):
            x = nn.relu(nets.Conv(channels, stride=2)(x))
        features = nn.relu(nn.Dense(FEATURES)(x.reshape(x.shape[0], -1)))
        return features, nn.Dense(NUM_CLASSES)(features)


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A trained Net: its parameters, its held-out accuracy and where that was measured."""

    params: Any
    accuracy: float  # on `split`, in [0, 1]
    split: str  # "test" or "val" (a folder without a test set)
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "split": self.split, "fingerprint": self.fingerprint}


@jax.jit
def _apply(params: Any, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    features, logits = Net().apply({"params": params}, x)
    return features, jax.nn.softmax(logits)


def features_and_probabilities(
    params: Any, images: UnitImages | np.ndarray, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, FEATURES], class probabilities [N, NUM_CLASSES]) as host float32."""
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        f, p = _apply(params, jnp.asarray(images[i : i + batch_size], jnp.float32))
        feats.append(np.asarray(f))
        probs.append(np.asarray(p))
    return np.concatenate(feats), np.concatenate(probs)


def num_steps(num_images: int) -> int:
    """PASSES over `num_images` in batches of BATCH_SIZE, clipped to [MIN_STEPS, MAX_STEPS]."""
    return int(np.clip(round(PASSES * num_images / BATCH_SIZE), MIN_STEPS, MAX_STEPS))


def train(
    images: ImagesU8, labels: Labels, key: jax.Array, steps: int | None = None
) -> dict[str, Any]:
    """A Net's parameters after `steps` Adam steps (None: num_steps(N)) on random batches of
    pixel / 255, as samples are scored."""
    steps = num_steps(len(images)) if steps is None else steps
    x_all = jnp.asarray(images)
    y_all = jnp.asarray(labels, jnp.int32)
    init_key, data_key = jax.random.split(key)
    params = Net().init(init_key, jnp.zeros((1, *shapes.IMAGE_SHAPE)))["params"]
    optimizer = optax.adam(LEARNING_RATE)

    @jax.jit
    def run(params, opt_state, keys, x_all, y_all):  # the data as arguments, not constants
        def step(carry, key):
            params, opt_state = carry
            idx = jax.random.randint(key, (BATCH_SIZE,), 0, len(x_all))
            x = x_all[idx].astype(jnp.float32) / 255.0

            def loss_fn(params):
                _, logits = Net().apply({"params": params}, x)
                return optax.softmax_cross_entropy_with_integer_labels(logits, y_all[idx]).mean()

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), keys)
        return params, opt_state, losses

    # Chunks of 100 steps in one compiled scan each, so long training logs its progress.
    opt_state, start = optimizer.init(params), time.perf_counter()
    done = 0
    while done < steps:
        n = min(100, steps - done)
        keys = jax.random.split(jax.random.fold_in(data_key, done), n)
        params, opt_state, losses = run(params, opt_state, keys, x_all, y_all)
        done += n
        logging.info(
            "classifier: step %d/%d, loss %.4f, %.0f s",
            done,
            steps,
            float(losses[-1]),
            time.perf_counter() - start,
        )
    return params


def accuracy(params: Any, images: ImagesU8, labels: Labels) -> float:
    """The share of images whose predicted class is their label."""
    _, probs = features_and_probabilities(params, images.astype(np.float32) / 255.0)
    return float(np.mean(np.argmax(probs, -1) == labels))


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/jax_vae_aae/classifiers (~/.cache/... when unset)."""
    return files.cache_dir("classifiers")


def fingerprint(data_config: Any) -> str:
    """A hex digest of what the classifier learns from: the data files, the split, the recipe."""
    files = input_pipeline.file_checksums(data_config)
    blob = json.dumps(
        {"files": files, "split_seed": int(data_config.split_seed), "recipe": RECIPE},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_or_train(
    data_config: Any, data: input_pipeline.Dataset, cache_dir: str, steps: int | None = None
) -> Classifier:
    """The classifier of `data` (loaded without a `limit`) cached under `cache_dir`, or one
    trained on its training split and cached; DataError when the data has no labels."""
    if data.train_labels is None:
        raise DataError(
            f"{data.source} has no label files: the classifier of the sample-quality evaluation "
            "trains on the training split's labels"
        )
    name = fingerprint(data_config) + ("" if steps is None else f"-steps{steps}")
    folder = os.path.join(cache_dir, name)
    if os.path.exists(folder):
        try:
            return _load(folder, name)
        except Exception as e:  # a damaged cache shows as many types: set it aside, train anew
            aside = f"{folder}.damaged"
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(folder, aside)
            logging.warning(
                "classifier cache %s does not load (%s: %s): moved to %s; training it again.",
                folder,
                type(e).__name__,
                str(e)[:80],
                aside,
            )

    logging.info("classifier: training on %d images (%s) ...", len(data.train_images), data.source)
    start = time.perf_counter()
    params = train(data.train_images, data.train_labels, jax.random.key(0), steps)
    split, images, labels = (
        ("test", data.test_images, data.test_labels)
        if data.test_images is not None and data.test_labels is not None
        else ("val", data.val_images, data.val_labels)
    )
    acc = accuracy(params, images, labels)
    info = {
        "accuracy": acc,
        "split": split,
        "num_train": len(data.train_images),
        "data": data.source,
        "recipe": RECIPE,
        "steps": num_steps(len(data.train_images)) if steps is None else steps,
        "train_seconds": round(time.perf_counter() - start, 1),
    }
    logging.info("classifier: %s accuracy %.4f after %.0f s", split, acc, info["train_seconds"])
    _store(folder, params, info)
    return Classifier(params, acc, split, name)


def _load(folder: str, name: str) -> Classifier:
    with open(os.path.join(folder, INFO_FILE)) as f:
        info = json.load(f)
    accuracy_, split = float(info["accuracy"]), str(info["split"])
    template = Net().init(jax.random.key(0), jnp.zeros((1, *shapes.IMAGE_SHAPE)))
    with open(os.path.join(folder, PARAMS_FILE), "rb") as f:
        params = flax.serialization.from_bytes(template["params"], f.read())
    logging.info("classifier: cached in %s (%s accuracy %.4f)", folder, split, accuracy_)
    return Classifier(params, accuracy_, split, name)


def _store(folder: str, params: Any, info: dict[str, Any]) -> None:
    """Writes the classifier into a temporary folder renamed into place: a reader never sees half
    of one, and of two processes that trained it, the second keeps the first's."""
    parent = os.path.dirname(os.path.abspath(folder))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    except OSError as e:
        raise UserError(
            f"cannot write the classifier's cache folder {parent} ({e.strerror or e}); "
            "choose another with --classifier_dir"
        ) from None
    with errors.writing(tmp):
        try:
            files.write_bytes(os.path.join(tmp, PARAMS_FILE), flax.serialization.to_bytes(params))
            files.write_json(os.path.join(tmp, INFO_FILE), info)
            try:
                os.rename(tmp, folder)
            except OSError:  # another process stored it first: keep theirs
                if not os.path.exists(os.path.join(folder, INFO_FILE)):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
