"""The codes z of a model: how far they are from the prior N(0, I), and interpolation between them.

How well the encoder's codes match the prior decides whether decoded prior samples look like
data (Questions 2.6 and 2.7): `code_statistics` measures it three ways, each 0 for a perfect
match: the squared maximum mean discrepancy (MMD) between the codes and prior draws, the norm of
the codes' mean, and the distance of their covariance from the identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from common import parallel


def imq_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
    """k(x, y) = c / (c + |x - y|^2), c = 2 * D: [N, D], [M, D] -> [N, M].

    The inverse multiquadratic kernel the Wasserstein autoencoder uses to compare codes with
    N(0, I): unlike a Gaussian kernel's, its tails are heavy, so codes far from the prior still
    count instead of vanishing from the sums.
    """
    c = 2.0 * x.shape[-1]
    sq = jnp.sum(x**2, -1)[:, None] + jnp.sum(y**2, -1)[None, :] - 2.0 * x @ y.T
    return c / (c + jnp.maximum(sq, 0.0))


def mmd2(x: jax.Array, y: jax.Array) -> jax.Array:
    """The unbiased estimate of MMD^2 between the samples x [N, D] and y [M, D] (N, M >= 2).

    E[k(x, x')] + E[k(y, y')] - 2 E[k(x, y)], the first two without the diagonal; its mean is
    0 when x and y come from the same distribution (it can then be slightly negative).
    """
    n, m = x.shape[0], y.shape[0]
    kxx = (jnp.sum(imq_kernel(x, x)) - n) / (n * (n - 1))  # k(x, x) = 1 on the diagonal
    kyy = (jnp.sum(imq_kernel(y, y)) - m) / (m * (m - 1))
    return kxx + kyy - 2.0 * jnp.mean(imq_kernel(x, y))


def code_statistics(z: jax.Array, prior_z: jax.Array) -> dict[str, jax.Array]:
    """How far codes are from N(0, I).

    Args:
      z: [N, D] float32, codes of N images.
      prior_z: [M, D] float32, draws of N(0, I).

    Returns:
      {"code_mmd": MMD^2 of z and prior_z (IMQ kernel), "code_mean_norm": |mean of z|,
      "code_cov_dist": the Frobenius norm of cov(z) - I divided by sqrt(D) (0 for N(0, I); 1 for
      codes that all sit at one point)}, float32 scalars.
    """
    mean = jnp.mean(z, axis=0, keepdims=True)  # [1, D]
    centred = z - mean
    cov = centred.T @ centred / (z.shape[0] - 1)
    eye = jnp.eye(z.shape[1], dtype=z.dtype)
    return {
        "code_mmd": mmd2(z, prior_z),
        "code_mean_norm": jnp.linalg.norm(mean[0]),
        "code_cov_dist": jnp.linalg.norm(cov - eye) / jnp.sqrt(z.shape[1]),
    }


class CodeStatistics:
    """`code_statistics` of one fixed image set's codes against fixed prior draws, compiled.

    Every call compares the same images, drawn with the same noise, with the same prior draws,
    so epochs differ only by the model.

    Args:
      sample_codes: (params, uint8 [N, 28, 28, 1], key) -> codes [N, z_dim] drawn from q(z|x)
        (a trainer's `sample_codes`).
      images_u8: uint8 [N, 28, 28, 1], N >= 2, kept on the devices.
      key: the run's evaluation key; the codes' noise and the prior draws fold in numbers no
        epoch reaches (the evaluation of epoch e folds in e).
      z_dim: the codes' size.
      mesh: the devices the images are replicated over.
    """

    def __init__(
        self,
        sample_codes: Callable[[Any, jax.Array, jax.Array], jax.Array],
        images_u8: np.ndarray,
        key: jax.Array,
        z_dim: int,
        mesh: Mesh,
    ):
        prior_key = jax.random.fold_in(key, 2**31 - 1)
        self.code_key = jax.random.fold_in(key, 2**31 - 2)
        self.images = parallel.replicate(images_u8, mesh)
        self.prior_z = jax.random.normal(prior_key, (len(images_u8), z_dim))
        self.compare = jax.jit(functools.partial(_statistics_of_codes, sample_codes))

    def __call__(self, params: Any) -> dict[str, float]:
        """{"code_mmd", "code_mean_norm", "code_cov_dist"} of the model `params`, as floats."""
        out = self.compare(params, self.images, self.code_key, self.prior_z)
        return {k: float(v) for k, v in jax.device_get(out).items()}


def _statistics_of_codes(sample_codes, params, images_u8, key, prior_z) -> dict[str, jax.Array]:
    return code_statistics(sample_codes(params, images_u8, key), prior_z)


def interpolate(z_from: jax.Array, z_to: jax.Array, num: int) -> jax.Array:
    """`num` codes on the straight line from z_from to z_to, both ends included.

    Args:
      z_from, z_to: [P, D] float32, P pairs of codes.

    Returns:
      [P, num, D] float32; [:, 0] is z_from and [:, -1] is z_to.
    """
    t = jnp.linspace(0.0, 1.0, num)[None, :, None]
    return (1.0 - t) * z_from[:, None, :] + t * z_to[:, None, :]
