"""How good a model's samples are: the AAE paper's Parzen protocol and a classifier's view.

Parzen-window log-likelihood (Makhzani et al. 2015, Table 1; Goodfellow et al.'s `parzen_ll.py`):
K samples in [0, 1] are the centres of a Gaussian kernel density of width sigma per pixel,

    log p(x) = logsumexp_k(-|x - s_k|^2 / (2 sigma^2)) - log K - D log sigma - D/2 log(2 pi),

sigma chosen from SIGMAS on validation images, the mean over the test images (nats) and its
standard error. Crude in 784 dimensions (it rewards blurry averages), so a small classifier's
view stands beside it: the Fréchet distance of its features (comparable inside this project
only), class coverage, recognisability; real validation images give the ceiling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from common import files, input_pipeline
from common.errors import CheckpointError, ConfigError, UserError
from common.evaluation import classifier as classifier_lib
from common.shapes import ImagesU8, UnitImages
from common.train import helpers, kinds, run_files
from common.train import workdir as workdir_lib

SIGMAS = np.logspace(-1, 0, 10)  # the paper's grid of kernel widths
NUM_SAMPLES = 10_000  # samples per model (the paper's)
NUM_SELECTION = 1_000  # validation images that choose sigma (the paper's)
LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- Parzen windows


@jax.jit
def _parzen_grid_batch(samples: jax.Array, images: jax.Array, sigmas: jax.Array) -> jax.Array:
    """[K, D] centres, [B, D] images, [S] widths -> [S, B] log-likelihoods (nats)."""
    hi = jax.lax.Precision.HIGHEST  # TPUs and GPUs would multiply in bf16 / tf32 otherwise
    d2 = (
        jnp.sum(images * images, -1)[:, None]
        + jnp.sum(samples * samples, -1)[None, :]
        - 2.0 * jnp.dot(images, samples.T, precision=hi)
    )
    d2 = jnp.maximum(d2, 0.0)  # |x - s|^2 >= 0; the expansion can round below it
    k, d = samples.shape
    s = sigmas[:, None]
    lse = jax.nn.logsumexp(-d2[None] / (2.0 * s[..., None] ** 2), axis=-1)  # [S, B]
    return lse - math.log(k) - d * jnp.log(s) - 0.5 * d * LOG_2PI


def parzen_grid(
    samples: np.ndarray, images: np.ndarray, sigmas: np.ndarray, batch_size: int = 100
) -> np.ndarray:
    """[S, N] nats: parzen_log_likelihood for S widths at once (the distances are shared)."""
    samples = jnp.asarray(samples, jnp.float32)
    sigmas = jnp.asarray(sigmas, jnp.float32)
    images = np.asarray(images, np.float32)
    out = []
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size]
        pad = batch_size - len(batch)  # one compiled shape for every batch
        padded = np.pad(batch, ((0, pad), (0, 0))) if len(images) > batch_size else batch
        out.append(np.asarray(_parzen_grid_batch(samples, jnp.asarray(padded), sigmas)))
        out[-1] = out[-1][:, : len(batch)]
    return np.concatenate(out, axis=1)


def parzen_log_likelihood(samples: np.ndarray, images: np.ndarray, sigma: float) -> np.ndarray:
    """[N] nats: each image [N, D] under the kernel density of samples [K, D] with width sigma
    > 0 (ValueError otherwise); the protocol's pixels are in [0, 1], not checked."""
    if not sigma > 0:
        raise ValueError(f"sigma={sigma} must be > 0")
    return parzen_grid(samples, images, np.array([sigma]))[0]


def choose_sigma(
    samples: np.ndarray, images: np.ndarray, sigmas: np.ndarray = SIGMAS
) -> tuple[float, np.ndarray]:
    """(the width with the highest mean log-likelihood of `images`, [S] each width's mean)."""
    means = parzen_grid(samples, images, sigmas).mean(axis=1)
    return float(sigmas[int(np.argmax(means))]), means


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """(mean, standard error std / sqrt(N) with ddof 0, as parzen_ll.py)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


# ----------------------------------------------------------------------------- a classifier's view


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) of features [N, F] and [M, F]. The
    root's trace is from the symmetric C_a^(1/2) C_b C_a^(1/2) (same eigenvalues): no complex
    rounding, and dead ReLU features (a singular covariance) need no offset."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root_a @ cov_b @ root_a
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def class_statistics(probabilities: np.ndarray) -> dict[str, Any]:
    """From the classifier's probabilities [N, 10]: "class_shares", "rarest_share", "coverage"
    (entropy of the shares / log 10: 1 uniform, 0 one class), "recognisability" (mean top prob)."""
    predicted = np.argmax(probabilities, axis=-1)
    shares = np.bincount(predicted, minlength=classifier_lib.NUM_CLASSES) / len(predicted)
    nonzero = shares[shares > 0]
    return {
        "coverage": max(0.0, float(-np.sum(nonzero * np.log(nonzero)) / math.log(len(shares)))),
        "rarest_share": float(shares.min()),
        "recognisability": float(np.mean(np.max(probabilities, axis=-1))),
        "class_shares": [round(float(s), 5) for s in shares],
    }


# ----------------------------------------------------------------------------- the protocol


@dataclasses.dataclass(frozen=True)
class ImageSets:
    """The real images of the protocol, and what they are in words."""

    selection: ImagesU8  # chooses sigma
    reference: ImagesU8  # the test images every number is about
    real: ImagesU8  # disjoint from the reference: the ceiling
    description: dict[str, str]


def image_sets(data: input_pipeline.Dataset) -> ImageSets:
    """Sigma chosen on the first NUM_SELECTION validation images, the test images scored, the
    validation split the ceiling; without a test set the validation split's halves (first:
    sigma and ceiling, second: scored)."""
    val = data.val_images
    if data.test_images is not None:
        selection = val[:NUM_SELECTION]
        return ImageSets(
            selection,
            data.test_images,
            val,
            {
                "selection": f"the first {len(selection)} validation images",
                "reference": f"the {len(data.test_images)} test images",
                "real": f"the {len(val)} validation images",
            },
        )
    half = len(val) // 2
    return ImageSets(
        val[:half],
        val[half:],
        val[:half],
        {
            "selection": f"validation images 1-{half} (no test set)",
            "reference": f"validation images {half + 1}-{len(val)} (no test set)",
            "real": f"validation images 1-{half}",
        },
    )


def as_unit(images_u8: ImagesU8) -> UnitImages:
    """pixel / 255, the protocol's."""
    return np.asarray(images_u8, np.float32) / 255.0


def flat(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1)


def score_images(
    images: UnitImages,
    sets: ImageSets,
    clf: classifier_lib.Classifier,
    reference_features: np.ndarray,
    parzen: bool = True,
) -> dict[str, Any]:
    """{"fid", "num", class_statistics'} of one image set (samples, or the ceiling); with `parzen`
    also "parzen_nats", "parzen_se", "sigma", "selection_nats" (the mean per width of SIGMAS)."""
    out: dict[str, Any] = {"num": len(images)}
    if parzen:
        sigma, per_width = choose_sigma(flat(images), flat(as_unit(sets.selection)))
        ll = parzen_log_likelihood(flat(images), flat(as_unit(sets.reference)), sigma)
        out["parzen_nats"], out["parzen_se"] = mean_and_se(ll)
        out["sigma"] = sigma
        out["selection_nats"] = [round(float(v), 3) for v in per_width]
    features, probabilities = classifier_lib.features_and_probabilities(clf.params, images)
    out["fid"] = frechet_distance(features, reference_features)
    out.update(class_statistics(probabilities))
    return out


# ----------------------------------------------------------------------------- a workdir


def draw_samples(
    trainer: Any, params: Any, key: jax.Array, num: int, chunk: int = 1000
) -> dict[str, UnitImages]:
    """{variant: images} of trainer.sample_grids, `chunk` at a time from fold_in(key, i); not
    the per-region grid (no sample of the whole prior)."""
    sample = jax.jit(trainer.sample_grids, static_argnums=2)
    parts: dict[str, list[np.ndarray]] = {}
    for i, start in enumerate(range(0, num, chunk)):
        grids = sample(params, jax.random.fold_in(key, i), min(chunk, num - start))
        for name, x in grids.items():
            if not name.endswith(run_files.BY_REGION):
                parts.setdefault(name, []).append(np.asarray(x))
    return {name: np.concatenate(xs) for name, xs in parts.items()}


VARIANT_LABELS = {
    "samples": "samples",
    "samples" + run_files.PIXEL_MEANS: "pixel means",
}
# What each model's samples are, as images in [0, 1] (the report's wording).
SAMPLE_TEXT = {
    "vae": {
        "samples" + run_files.PIXEL_MEANS: "each pixel's mean / 15",
        "samples": "4-bit pixels drawn from their categoricals / 15",
    },
    "aae": {"samples": "decoded prior draws, (x + 1) / 2"},
}


def main_variant(kind: str) -> str:
    """The samples a model's headline numbers are of: the VAE's pixel means, the AAE's images."""
    return "samples" + run_files.PIXEL_MEANS if kind == "vae" else "samples"


@contextlib.contextmanager
def _locked(workdir: str) -> Iterator[None]:
    """Locks the workdir folder itself, so two evaluations that update SAMPLE_QUALITY both land."""
    fd = os.open(workdir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_results(workdir: str) -> dict[str, Any]:
    """The workdir's run_files.SAMPLE_QUALITY: {str(epoch): result}; {} when there is none."""
    path = os.path.join(workdir, run_files.SAMPLE_QUALITY)
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            results = json.load(f)
        if isinstance(results, dict) and all(isinstance(v, dict) for v in results.values()):
            return results
        why = "not this project's results"
    except (ValueError, UnicodeDecodeError, OSError) as e:
        why = f"{type(e).__name__}: {str(e)[:80]}"
    aside = f"{path}.damaged"
    os.replace(path, aside)
    logging.warning(
        "%s is damaged (%s): moved to %s; its epochs are scored anew.", path, why, aside
    )
    return {}


def evaluate_workdir(
    workdir: str,
    *,
    epoch: int | None = None,
    num_samples: int = NUM_SAMPLES,
    seed: int = 0,
    classifier_dir: str | None = None,
    classifier_steps: int | None = None,
) -> dict[str, Any]:
    """Scores `num_samples` samples per variant of the checkpoint of `epoch` (None: the newest)
    into the run's run_files.SAMPLE_QUALITY; returns that epoch's result ("variants": {variant:
    score_images' and "text"}). classifier_dir, classifier_steps None: the defaults.

    Raises:
      CheckpointError: no run, or no checkpoint of `epoch`. ConfigError: num_samples < 2.
      DataError: the data has no labels (the classifier needs them).
    """
    if num_samples < 2:
        raise ConfigError(f"--num_samples={num_samples} must be >= 2")
    if not os.path.isdir(workdir) or not workdir_lib.has_run(workdir):
        raise CheckpointError(f"{workdir} holds no run (no checkpoints)")
    with _locked(workdir):  # before the long work: a damaged file is set aside, a folder that
        read_results(workdir)  # cannot be written is refused
        files.check_writable(workdir)
    cache = classifier_dir or classifier_lib.default_cache_dir()
    # Refused before the classifier trains, not after: a cache path that is (or runs through) a
    # file. (A cache that cannot be written is found when a classifier is stored in it: one that
    # is there already is read.)
    blocking = files.file_on_path(cache)
    if blocking:
        raise UserError(
            f"the classifier's cache folder {cache} cannot be made: {blocking} is a file; choose "
            "another with --classifier_dir"
        )
    start = time.perf_counter()
    trainer, state, epoch = kinds.restore(workdir, epoch)
    kind = trainer.kind
    data_config = trainer.config.data.copy_and_resolve_references()
    data_config.limit = 0  # the classifier and the ceiling see the whole split
    data = input_pipeline.load_dataset(data_config)
    clf = classifier_lib.load_or_train(data_config, data, cache, classifier_steps)
    sets = image_sets(data)
    reference_features, _ = classifier_lib.features_and_probabilities(
        clf.params, as_unit(sets.reference)
    )
    samples = draw_samples(trainer, state.params, jax.random.key(seed), num_samples)
    variants = {}
    for name, images in samples.items():
        logging.info("%s, epoch %d: scoring %d %s ...", kind, epoch, num_samples, name)
        variants[name] = {
            "text": SAMPLE_TEXT.get(kind, {}).get(name, name),
            **score_images(images, sets, clf, reference_features),
        }
    real = score_images(as_unit(sets.real), sets, clf, reference_features, parzen=False)
    result = {
        "epoch": int(epoch),
        "model": kind,
        "num_samples": num_samples,
        "seed": seed,
        "sigmas": [float(s) for s in SIGMAS],
        "sets": sets.description,
        "data": data.source,
        "official_data": data.official,  # "mnist": the paper's test images (input_pipeline)
        "classifier": clf.describe(),
        "main": main_variant(kind),
        "variants": variants,
        "real": real,
        "seconds": round(time.perf_counter() - start, 1),
        "machine": helpers.machine_info(),
    }
    path = os.path.join(workdir, run_files.SAMPLE_QUALITY)
    with workdir_lib.out_of_space_is_one_line(os.path.abspath(workdir)), _locked(workdir):
        results = read_results(workdir)
        results[str(epoch)] = result
        results = dict(sorted(results.items(), key=lambda item: int(item[0])))
        files.write_json(path, results, indent=1)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The epoch's numbers as a short text table (what evaluate_samples.py prints)."""
    rows = [(VARIANT_LABELS.get(n, n), v) for n, v in result["variants"].items()]
    rows.append(("real (ceiling)", result["real"]))
    header = (
        f"{result['model']} epoch {result['epoch']}: {result['num_samples']} samples; "
        f"sigma chosen on {result['sets']['selection']}, scored on {result['sets']['reference']}; "
        f"classifier {result['classifier']['split']} accuracy "
        f"{result['classifier']['accuracy']:.4f}"
    )
    lines = [
        header,
        f"{'':16} {'Parzen (nats)':>18} {'sigma':>6} {'FID':>8} {'coverage':>9} "
        f"{'rarest':>7} {'recognis.':>9}",
    ]
    for label, v in rows:
        parzen = f"{v['parzen_nats']:9.1f} ± {v['parzen_se']:5.1f}" if "parzen_nats" in v else "—"
        sigma = f"{v['sigma']:.3f}" if "sigma" in v else "—"
        lines.append(
            f"{label:16} {parzen:>18} {sigma:>6} {v['fid']:8.2f} {v['coverage']:9.3f} "
            f"{v['rarest_share']:7.3f} {v['recognisability']:9.3f}"
        )
    return "\n".join(lines)
