"""Shared fixtures: CPU only, strict broadcasting, tiny IDX data sets and tiny configs.

The suite runs on the CPU (its timings, bitwise checks and subprocesses assume it). On a GPU or
TPU machine, `TEST_ON_ACCELERATOR=1` leaves the accelerator visible and sets float32 matmuls
and convolutions to full precision, for the numerical tests of the models, losses and
convolutions (README's performance section names them); others may fail there.
"""

import fcntl
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from typing import Any, NamedTuple

ON_ACCELERATOR = os.environ.get("TEST_ON_ACCELERATOR") == "1"
if not ON_ACCELERATOR:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Many tests compile the same tiny programs, some in subprocesses (which inherit these): a
# persistent compilation cache shared by the whole session (xdist's workers inherit the
# controller's) compiles each of them once; the process that made it removes it at the end.
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jax-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")  # [B] vs [B, 1] mistakes fail loudly
if ON_ACCELERATOR:  # TF32 / bf16 passes (GPU, TPU defaults) would hide errors behind 1e-5
    jax.config.update("jax_default_matmul_precision", "highest")


def pytest_unconfigure(config):
    if _OWN_CACHE and not hasattr(config, "workerinput"):  # the controller, or a lone process
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def write_idx(path: str, array: np.ndarray, magic: int | None = None) -> str:
    """Writes a uint8 array as an IDX file (gzip-compressed if path ends in .gz)."""
    array = np.asarray(array, np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(raw)
    return path


def fake_digits(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [num, 28, 28] blobs whose position depends on the label, and int labels [num]."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, num)
    yy, xx = np.mgrid[:28, :28]
    cy, cx = 6 + 2 * (labels % 5), 8 + 6 * (labels // 5)
    blob = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / 12.0)
    noise = rng.uniform(0, 0.2, (num, 28, 28))
    return (np.clip(blob + noise, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8)


def rendered_digits(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [num, 28, 28] digits drawn with a font, jittered, rotated and blurred, and labels.

    MNIST-like where it matters for training dynamics: thin bright strokes on black, about 13%
    of the pixels lit (MNIST: 13%).
    """
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=22)
    labels = rng.integers(0, 10, num)
    out = np.zeros((num, 28, 28), np.uint8)
    for i, digit in enumerate(labels):
        image = Image.new("L", (28, 28), 0)
        dx, dy = rng.integers(-3, 4, 2)
        width = int(rng.integers(0, 2))
        ImageDraw.Draw(image).text(
            (8 + dx, 1 + dy), str(digit), fill=255, font=font, stroke_width=width, stroke_fill=255
        )
        image = image.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        out[i] = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6)))
    return out, labels.astype(np.uint8)


# Modules whose tests run whole commands or trainings, the longest first: collected first, so
# pytest-xdist's workers start on them and finish together (the short tests fill the gaps).
LONG_FIRST = (
    "test_readme.py",
    "test_notebooks_colab_vae.py",
    "test_common_train_trainer.py",
    "test_common_experiments_reproduce.py",
    "test_common_cli.py",
    "test_aae_semi.py",
    "test_faults.py",
    "test_aae_train.py",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each module stays


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory):
    """An IDX folder of rendered digits: 1,100 train (990 / 110 train / val), 100 test."""
    folder = tmp_path_factory.mktemp("rendered")
    for split, num, seed in (("train", 1100, 0), ("t10k", 100, 1)):
        images, labels = rendered_digits(num, seed)
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), labels)
    return str(folder)


def write_mnist_folder(folder, num_train: int = 200, num_test: int = 50, splits=("train", "t10k")):
    os.makedirs(folder, exist_ok=True)
    for split, num, seed in (("train", num_train, 0), ("t10k", num_test, 1)):
        if split not in splits:
            continue
        images, labels = fake_digits(num, seed)
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), labels)
    return str(folder)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """A folder of small gzipped IDX files: 200 train (180/20 train/val) and 50 test images."""
    return write_mnist_folder(tmp_path_factory.mktemp("mnist"))


@pytest.fixture
def key():
    return jax.random.key(0)


def init_vae(num_filters: int, z_dim: int):
    """A VAE module and its parameters initialised from key 0: (model, params)."""
    from vae import models

    model = models.VAE(num_filters=num_filters, z_dim=z_dim)
    x = jnp.zeros((1, 28, 28, 1), jnp.int32)
    init = jax.jit(lambda key: model.init(key, x, jax.random.key(1))["params"])  # one compile
    return model, init(jax.random.key(0))


def initial_state(trainer):
    """trainer.create_train_state(key 0), compiled once (op by op it compiles ~100 programs)."""
    return jax.jit(trainer.create_train_state)(jax.random.key(0))


def shrink(config, data_dir: str):
    """A config shrunk to seconds: 4 filters, z 2, batch 16, 2 epochs, 4 samples."""
    config.update(num_filters=4, z_dim=2, batch_size=16, eval_batch_size=16, num_epochs=2)
    config.update(checkpoint_epochs=(0, 1), sample_epochs=(0, 2), num_samples=4)
    config.data.dir = data_dir
    return config


def make_tiny_vae_config(data_dir: str):
    """configs/vae.py shrunk (see shrink), a 3 x 3 manifold."""
    from configs import vae

    config = shrink(vae.get_config(), data_dir)
    config.manifold_size = 3
    return config


def make_tiny_aae_config(data_dir: str):
    """configs/aae.py shrunk (see shrink), a discriminator of 16 hidden units."""
    from configs import aae

    config = shrink(aae.get_config(), data_dir)
    config.disc_hidden = 16
    return config


def make_tiny_semi_config(data_dir: str, task: str = "semi_supervised"):
    """configs/aae_semi_100.py shrunk (see shrink), 20 labels (16 clusters for "clustering"), no
    learning-rate schedule."""
    from configs import aae_semi_100

    config = shrink(aae_semi_100.get_config(), data_dir)
    config.update(task=task, disc_hidden=16, labelled_batch_size=16, num_labels=20)
    if task == "clustering":
        config.num_classes = 16
    for opt in config.optimizers.values():
        opt.update(warmup_steps=0, decay_steps=())  # a warm-up's first step would move nothing
    return config


@pytest.fixture
def tiny_vae_config(mnist_dir):
    return make_tiny_vae_config(mnist_dir)


@pytest.fixture
def tiny_aae_config(mnist_dir):
    return make_tiny_aae_config(mnist_dir)


class TrainedRun(NamedTuple):
    config: Any  # the ConfigDict it was trained with
    workdir: str
    final: dict  # train_and_evaluate's final row


def once_per_session(tmp_path_factory, name: str, make) -> tuple[str, Any]:
    """(folder, make(folder)) for a folder shared by all pytest-xdist workers of the session:
    the first worker that asks makes it (a JSON value), the others read it back (a run trains
    once per session). After a make that fails, the next worker starts it again from scratch."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder, result = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first makes it
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            value = make(folder)
            result.write_text(json.dumps(value))
    return str(folder), json.loads(result.read_text())


def _trained(kind: str, tmp_path_factory, mnist_dir) -> TrainedRun:
    import importlib

    make_config = {
        "vae": make_tiny_vae_config,
        "aae": make_tiny_aae_config,
        "aae_semi": make_tiny_semi_config,
    }[kind]
    module = {"aae_semi": "aae.semi_train"}.get(kind, f"{kind}.train")

    def train(folder):
        config = make_config(mnist_dir)
        final = importlib.import_module(module).train_and_evaluate(config, str(folder))
        return {"data_dir": mnist_dir, "final": final}

    workdir, made = once_per_session(tmp_path_factory, f"{kind}_run", train)
    return TrainedRun(make_config(made["data_dir"]), workdir, made["final"])


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory, mnist_dir) -> TrainedRun:
    """One tiny VAE run of 2 epochs (make_tiny_vae_config), trained once per session and shared
    by every test that only reads a finished run; a test that changes it works on `copy_run`
    of it. Its config names the data it read (another worker's mnist_dir, maybe)."""
    return _trained("vae", tmp_path_factory, mnist_dir)


@pytest.fixture(scope="session")
def aae_run(tmp_path_factory, mnist_dir) -> TrainedRun:
    """One tiny AAE run of 2 epochs (make_tiny_aae_config); see vae_run."""
    return _trained("aae", tmp_path_factory, mnist_dir)


@pytest.fixture(scope="session")
def semi_run(tmp_path_factory, mnist_dir) -> TrainedRun:
    """One tiny semi-supervised AAE run of 2 epochs (make_tiny_semi_config); see vae_run."""
    return _trained("aae_semi", tmp_path_factory, mnist_dir)


def copy_run(run: TrainedRun, folder) -> str:
    """A copy of `run`'s workdir in `folder` (which must not exist yet): its path."""
    shutil.copytree(run.workdir, folder, symlinks=True)
    return str(folder)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_flags(data_dir: str, workdir: str, num_epochs: int, script="train_vae.py", extra=()):
    """The command line of a tiny run of scripts/SCRIPT (run it from ROOT with run_cli)."""
    return [
        sys.executable,
        f"scripts/{script}",
        f"--workdir={workdir}",
        "--config.num_filters=4",
        "--config.z_dim=2",
        "--config.batch_size=16",
        "--config.eval_batch_size=16",
        f"--config.num_epochs={num_epochs}",
        f"--config.data.dir={data_dir}",
        "--config.checkpoint_epochs=(0,)",
        "--config.sample_epochs=(0,)",
        "--config.num_samples=4",
        *extra,
    ]


def run_cli(args, timeout=240):
    """Runs a command line in the repository's root; the CompletedProcess, text output."""
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
