"""The codes z of a model: how far they are from the prior, and interpolation between them.

How well the encoder's codes match the prior decides whether decoded prior samples look like
data (Questions 2.6 and 2.7): `code_statistics` measures it, each number 0 for a perfect match:
the squared maximum mean discrepancy (MMD) between the codes and the prior's draws (any prior),
and for N(0, I) also the norm of the codes' mean and the distance of their covariance from the
identity (the other priors of common/priors.py are not fixed by two moments: only the MMD is
kept for them). A label-guided prior adds the share of codes in their own label's region.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common import priors


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


def code_statistics(z: jax.Array, prior_z: jax.Array, moments: bool = True) -> dict[str, jax.Array]:
    """How far codes are from the prior.

    Args:
      z: [N, D] float32, codes of N images.
      prior_z: [M, D] float32, draws of the prior.
      moments: whether the prior is N(0, I), whose mean and covariance are compared too.

    Returns:
      {"code_mmd": MMD^2 of z and prior_z (IMQ kernel)}, with `moments` also "code_mean_norm":
      |mean of z| and "code_cov_dist": the Frobenius norm of cov(z) - I divided by sqrt(D) (0 for
      N(0, I); 1 for codes that all sit at one point); float32 scalars.
    """
    if not moments:
        return {"code_mmd": mmd2(z, prior_z)}
    mean = jnp.mean(z, axis=0, keepdims=True)  # [1, D]
    centred = z - mean
    cov = centred.T @ centred / (z.shape[0] - 1)
    eye = jnp.eye(z.shape[1], dtype=z.dtype)
    return {
        "code_mmd": mmd2(z, prior_z),
        "code_mean_norm": jnp.linalg.norm(mean[0]),
        "code_cov_dist": jnp.linalg.norm(cov - eye) / jnp.sqrt(z.shape[1]),
    }


def own_region_share(prior: priors.Prior, z: jax.Array, labels: jax.Array) -> jax.Array:
    """The share of codes z [N, D] in their own label's region of `prior` (labels int [N] in
    0..9): float32 scalar in [0, 1]; 0.1 by chance."""
    return jnp.mean(prior.region(z) == labels)


def interpolate(z_from: jax.Array, z_to: jax.Array, num: int) -> jax.Array:
    """`num` codes on the straight line from z_from to z_to, both ends included.

    Args:
      z_from, z_to: [P, D] float32, P pairs of codes.

    Returns:
      [P, num, D] float32; [:, 0] is z_from and [:, -1] is z_to.
    """
    t = jnp.linspace(0.0, 1.0, num)[None, :, None]
    return (1.0 - t) * z_from[:, None, :] + t * z_to[:, None, :]
