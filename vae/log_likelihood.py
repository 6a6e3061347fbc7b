"""log p(x) beyond the ELBO: importance-weighted estimates (assignment Eq. 7-9).

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,  z_k ~ q(z|x)

For K = 1 its mean is the ELBO; it tightens towards log p(x) as K grows. With the prior as
proposal (Eq. 8: z_k ~ p(z), weight p(x|z_k)) it is Question 1.2's naive Monte-Carlo estimate,
whose effective sample size ESS = (sum w)^2 / sum w^2 stays near 1 of K: almost every prior z
explains x badly. Draws come `chunk` at a time in a `lax.scan` of running log-sum-exps (K = 1000
in one chunk's memory), one pass of max(K) giving every K as a prefix. Per image, in nats.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from common import files, input_pipeline, shapes
from common.errors import ConfigError
from common.train import helpers, kinds, run_files
from common.train import workdir as workdir_lib
from vae import losses, models
from vae.train import VAETrainer

PROPOSALS = ("posterior", "prior")
KS = (1, 10, 100, 1000)  # the numbers of samples K evaluated by default
# Images decoded at once: XLA:CPU decodes ~1.5x faster per image in blocks of a few hundred (the
# activations stay in cache) than in blocks of thousands.
ROWS = 200
# Batches estimated at once, each on a thread of its own: one decoder program keeps about 1.4 of
# 2 CPU cores busy (its elementwise work runs on one), two fill them (117 -> 82 us a decoded
# image on a 2-core Intel Xeon); on an accelerator the second overlaps the host's work.
IN_FLIGHT = 2
LOG_2PI = math.log(2 * math.pi)


def log_normal(z: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(log_std)^2)) summed over the last axis: [..., D] -> [...]."""
    return -0.5 * jnp.sum(((z - mean) * jnp.exp(-log_std)) ** 2 + 2 * log_std + LOG_2PI, axis=-1)


def log_weights(
    model: models.VAE,
    params: Any,
    images: shapes.Pixels4,
    key: jax.Array,
    num: int,
    proposal: str,
) -> jax.Array:
    """Log importance weights, float32 [B, num] in nats: "posterior" (z ~ q(z|x): log p(x|z) +
    log p(z) - log q(z|x)) or "prior" (z ~ N(0, I): log p(x|z))."""
    mean, log_std = model.apply({"params": params}, images, method=models.VAE.encode)
    return _log_weights_given_codes(model, params, images, mean, log_std, key, num, proposal)


def _log_weights_given_codes(model, params, images, mean, log_std, key, num, proposal):
    """log_weights with q(z|x) = N(mean, exp(log_std)^2) [B, D] already encoded."""
    eps = jax.random.normal(key, (num, *mean.shape), mean.dtype)  # [num, B, D]
    if proposal == "posterior":
        mean, log_std = mean[None], log_std[None]  # [1, B, D]
        z = mean + jnp.exp(log_std) * eps
        correction = log_normal(z, jnp.zeros_like(z), jnp.zeros_like(z)) - log_normal(
            z, mean, log_std
        )
    elif proposal == "prior":
        z, correction = eps, 0.0
    else:
        raise ValueError(f"proposal {proposal!r}: expected one of {PROPOSALS}")
    b, d = eps.shape[1:]
    logits = model.apply({"params": params}, z.reshape(num * b, d), method=models.VAE.decode)
    repeated = jnp.broadcast_to(images, (num, *images.shape)).reshape(num * b, *images.shape[1:])
    log_px_z = -losses.categorical_nll(logits, repeated).reshape(num, b)
    return (log_px_z + correction).T


def accumulate(stats: tuple[jax.Array, jax.Array], logw: jax.Array):
    """Adds a chunk of log weights [..., C] to running (logsumexp w, logsumexp w^2), each [...]."""
    lse1 = jax.nn.logsumexp(logw, axis=-1)
    lse2 = jax.nn.logsumexp(2 * logw, axis=-1)
    return jnp.logaddexp(stats[0], lse1), jnp.logaddexp(stats[1], lse2)


def accumulate_prefixes(
    stats: tuple[jax.Array, jax.Array], logw: jax.Array, start: jax.Array | int, ks: Sequence[int]
):
    """accumulate for every K at once: row s of stats ([S, B] each) takes the draws of chunk
    logw [B, C] (numbered start..start + C - 1) below ks[s]."""
    number = start + jnp.arange(logw.shape[-1])  # [C]
    keep = number[None, :] < jnp.asarray(ks)[:, None]  # [S, C]
    return accumulate(stats, jnp.where(keep[:, None, :], logw[None], -jnp.inf))


def finalize(stats: tuple[jax.Array, jax.Array], num: int) -> tuple[jax.Array, jax.Array]:
    """(log of the mean weight [B] in nats: the estimate of log p(x); ESS [B] in [1, num])."""
    lse1, lse2 = stats
    return lse1 - math.log(num), jnp.exp(2 * lse1 - lse2)


def default_chunk(batch_size: int) -> int:
    """Samples per image drawn at once: about ROWS images decoded at once."""
    return max(1, ROWS // batch_size)


@functools.partial(jax.jit, static_argnames=("model", "ks", "chunk", "proposal"))
def estimate_log_px_ks(
    params: Any,
    images: shapes.Pixels4,
    key: jax.Array,
    *,
    model: models.VAE,
    ks: tuple[int, ...],
    chunk: int | None = None,
    proposal: str = "posterior",
) -> tuple[jax.Array, jax.Array]:
    """log p(x) for every K in `ks` from one set of max(ks) draws per image: (estimates in nats,
    ESS), each float32 [len(ks), B].

    Each K takes the first K draws: distributed exactly as K fresh ones, so each K's mean and
    standard error hold; only the K are no longer independent (their differences are sharper).
    Prior z are drawn per image too: shared by a batch, their errors would be shared, which the
    standard error over images cannot see (at K = 1 the mean of 100 images moved by 10 of them).
    Chunk i draws `chunk` per image (None: default_chunk(B); chunk * B images' logits in memory)
    with fold_in(key, i); `proposal` as in log_weights.
    """
    num = max(ks)
    chunk = min(chunk or default_chunk(images.shape[0]), num)
    full, rest = divmod(num, chunk)
    mean, log_std = model.apply({"params": params}, images, method=models.VAE.encode)
    empty = jnp.full((len(ks), images.shape[0]), -jnp.inf, jnp.float32)

    def draw(i, size):
        key_i = jax.random.fold_in(key, i)
        return _log_weights_given_codes(model, params, images, mean, log_std, key_i, size, proposal)

    def body(stats, i):
        return accumulate_prefixes(stats, draw(i, chunk), i * chunk, ks), None

    stats, _ = jax.lax.scan(body, (empty, empty), jnp.arange(full))
    if rest:
        stats = accumulate_prefixes(stats, draw(full, rest), full * chunk, ks)
    log_k = jnp.log(jnp.asarray(ks, jnp.float32))[:, None]
    return stats[0] - log_k, jnp.exp(2 * stats[0] - stats[1])


def estimate_log_px(
    params: Any,
    images: shapes.Pixels4,
    key: jax.Array,
    *,
    model: models.VAE,
    num: int,
    chunk: int | None = None,
    proposal: str = "posterior",
) -> tuple[jax.Array, jax.Array]:
    """estimate_log_px_ks for K = num alone: (log p(x) in nats, ESS in [1, num]), each [B]."""
    log_px, ess = estimate_log_px_ks(
        params, images, key, model=model, ks=(num,), chunk=chunk, proposal=proposal
    )
    return log_px[0], ess[0]


def to_bpd(log_px: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    """log p(x) in nats per 28x28 image -> negative log-likelihood in bits per dimension."""
    return -log_px * losses.LOG2_E / math.prod(shapes.IMAGE_SHAPE)


def evaluate_images(
    model: models.VAE,
    params: Any,
    images: shapes.ImagesU8,
    key: jax.Array,
    *,
    ks: Sequence[int] = KS,
    batch_size: int = 100,
    chunk: int | None = None,
) -> dict[str, Any]:
    """Both proposals and the ELBO over `images` (quantised here), for each K; batches padded to
    one shape, so two compilations serve any K and image count. Each (proposal, batch) draws
    from its own fold_in of `key`.

    Returns:
      {"num_images", "elbo_bpd", "seconds", "rows": [{"k", "iw_bpd", "iw_bpd_se", "iw_ess",
      "prior_bpd", "prior_bpd_se", "prior_ess"}]}: means over the images, *_se their standard
      errors, *_ess the mean effective sample size.
    """
    start = time.perf_counter()
    ks = tuple(int(k) for k in ks)
    x = input_pipeline.quantize_4bit(images)
    n = len(x)
    num_batches = -(-n // batch_size)
    batch_size = -(-n // num_batches)  # the fewest padded images that give one shape
    pad = num_batches * batch_size - n
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    batches = [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    elbo = jax.jit(functools.partial(_elbo_bpd, model=model))
    elbo_bpd = np.concatenate(
        [np.asarray(elbo(params, b, jax.random.fold_in(key, i))) for i, b in enumerate(batches)]
    )[:n]

    def estimate(job):  # one (proposal, batch): its (estimates, ESS) [len(ks), batch] on the host
        p, i = job
        batch_key = jax.random.fold_in(jax.random.fold_in(key, 1 + p), i)
        out = estimate_log_px_ks(
            params, batches[i], batch_key, model=model, ks=ks, chunk=chunk, proposal=PROPOSALS[p]
        )
        return np.asarray(out[0]), np.asarray(out[1])

    jobs = [(p, i) for p in range(len(PROPOSALS)) for i in range(len(batches))]

    def finished():  # (job, result) in order
        pool = futures.ThreadPoolExecutor(IN_FLIGHT)
        try:
            # Each proposal's first batch, before the others: each program compiles once.
            firsts = jobs[:: len(batches)]
            yield from zip(firsts, pool.map(estimate, firsts), strict=True)
            rest = [job for job in jobs if job[1] != 0]
            yield from zip(rest, pool.map(estimate, rest), strict=True)
        finally:  # stopped (Ctrl-C): the queued batches never start, nothing waits for the rest
            pool.shutdown(wait=False, cancel_futures=True)

    out, last_log = {}, time.perf_counter()
    for count, (job, result) in enumerate(finished(), 1):
        out[job] = result
        if time.perf_counter() - last_log > 30:  # long work (large K on a CPU) reports
            last_log = time.perf_counter()
            eta = (last_log - start) / count * (len(jobs) - count)
            logging.info(
                "log p(x): %d of %d batches; done in about %s",
                count,
                len(jobs),
                helpers.format_duration(eta),
            )
    columns = {}
    for p, name in enumerate(("iw", "prior")):
        est = np.concatenate([out[p, i][0] for i in range(len(batches))], axis=1)[:, :n]
        ess = np.concatenate([out[p, i][1] for i in range(len(batches))], axis=1)[:, :n]
        columns[name] = (est, ess)
    rows = []
    for s, k in enumerate(ks):
        row = {"k": k}
        for name, (est, ess) in columns.items():
            row[f"{name}_bpd"], row[f"{name}_bpd_se"] = mean_and_se(to_bpd(est[s]))
            row[f"{name}_ess"] = float(np.mean(ess[s]))
        logging.info(
            "K=%d: importance weighted %.4f bpd (ESS %.1f), prior %.4f bpd (ESS %.2f)",
            k,
            row["iw_bpd"],
            row["iw_ess"],
            row["prior_bpd"],
            row["prior_ess"],
        )
        rows.append(row)
    return {
        "num_images": n,
        "elbo_bpd": float(np.mean(elbo_bpd)),
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """The mean of [N] values and its standard error (0 for a single value)."""
    se = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(np.mean(values)), float(se)


def _elbo_bpd(params, images, key, *, model):
    return model.apply({"params": params}, images, key, method=models.VAE.per_example_losses).bpd


def markdown_table(result: dict[str, Any]) -> str:
    lines = [
        f"Negative log-likelihood in bits per dimension, K-sample estimates ± standard error over "
        f"{result['num_images']} images of the {result['split']} split (epoch {result['epoch']}); "
        f"the ELBO on the same images: {result['elbo_bpd']:.4f} bpd. ESS: mean effective sample "
        "size of the K weights.",
        "",
        "| K | z ~ q(z ∣ x), importance weighted | ESS | z ~ p(z), Eq. 8 | ESS |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['k']} | {r['iw_bpd']:.4f} ± {r['iw_bpd_se']:.4f} | {r['iw_ess']:.1f} "
            f"| {r['prior_bpd']:.4f} ± {r['prior_bpd_se']:.4f} | {r['prior_ess']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot_proposals(result: dict[str, Any], path: str) -> None:
    """bpd and ESS / K against K for both proposals: the picture behind Question 1.2."""
    from common import plotting

    ks = [r["k"] for r in result["rows"]]
    fig = plotting.new_figure(9, 3.6)
    left, right = fig.subplots(1, 2)
    for name, label in (("iw", "z ~ q(z|x), weighted"), ("prior", "z ~ p(z) (Eq. 8)")):
        left.errorbar(
            ks,
            [r[f"{name}_bpd"] for r in result["rows"]],
            yerr=[r[f"{name}_bpd_se"] for r in result["rows"]],
            marker="o",
            label=label,
        )
        right.plot(ks, [r[f"{name}_ess"] / r["k"] for r in result["rows"]], marker="o", label=label)
    left.axhline(result["elbo_bpd"], color="k", ls="--", lw=1, label="ELBO")
    left.set(xscale="log", xlabel="K samples", ylabel="-log p(x) estimate (bpd)")
    right.set(xscale="log", yscale="log", xlabel="K samples", ylabel="ESS / K")
    right.set_title("effective sample size", fontsize=10)
    left.set_title("estimate of -log p(x)", fontsize=10)
    left.legend(fontsize=8)
    fig.tight_layout()
    plotting.save_figure(fig, path)


def evaluate_workdir(
    workdir: str,
    *,
    epoch: int | None = None,
    ks: Sequence[int] = KS,
    num_images: int | None = None,
    seed: int = 0,
    split: str = "test",
) -> dict[str, Any]:
    """Writes a VAE run's log-likelihood (run_files.LOG_LIKELIHOOD, its table, the proposals'
    plot) at `epoch` (None: the latest) on the first `num_images` (None: all) of `split` ("test"
    falls back to "val" without a test set). Returns evaluate_images' dict plus "epoch" and
    "split". ConfigError: not a VAE run, or a bad split, K or num_images."""
    kind = workdir_lib.load_config(workdir).get("model")
    if kind != "vae":
        raise ConfigError(f"{workdir} holds a {kind!r} run; log p(x) needs a VAE run")
    kinds.read_config(workdir)  # every field the VAE needs, or one line
    if split not in ("test", "val", "train"):
        raise ConfigError(f"split {split!r}: expected test, val or train")
    if any(int(k) < 1 for k in ks):
        raise ConfigError(f"every K must be >= 1, got {list(ks)}")
    if num_images is not None and num_images < 1:
        raise ConfigError(f"num_images={num_images} must be >= 1 (or None for all)")
    with workdir_lib.out_of_space_is_one_line(os.path.abspath(workdir)):
        files.check_writable(workdir)  # before the long work
    trainer, state, epoch = VAETrainer.restore(workdir, epoch)
    data = input_pipeline.load_dataset(trainer.config.data)
    images = {"test": data.test_images, "val": data.val_images, "train": data.train_images}[split]
    if images is None:
        logging.warning("The data has no test set: evaluating the validation split.")
        split, images = "val", data.val_images
    images = images[:num_images] if num_images is not None else images
    result = evaluate_images(trainer.model, state.params, images, jax.random.key(seed), ks=ks)
    result = {"epoch": int(epoch), "split": split, **result}
    with workdir_lib.out_of_space_is_one_line(os.path.abspath(workdir)):
        files.write_json(os.path.join(workdir, run_files.LOG_LIKELIHOOD), result)
        files.write_text(
            os.path.join(workdir, run_files.LOG_LIKELIHOOD_TABLE), markdown_table(result)
        )
        plot_proposals(result, os.path.join(workdir, run_files.PROPOSAL_VARIANCE))
    return result
