"""A model's codes z: how far from the prior (which decides whether decoded prior draws look
like data, Questions 2.6 and 2.7), and interpolation between them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common import priors
from common.shapes import Codes, Labels


def imq_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
    """k(x, y) = c / (c + |x - y|^2), c = 2 * D: [N, D], [M, D] -> [N, M]. The WAE's kernel: its
    heavy tails keep codes far from the prior in the sums, where a Gaussian's would vanish."""
    c = 2.0 * x.shape[-1]
    sq = jnp.sum(x**2, -1)[:, None] + jnp.sum(y**2, -1)[None, :] - 2.0 * x @ y.T
    return c / (c + jnp.maximum(sq, 0.0))


def mmd2(x: Codes, y: Codes) -> jax.Array:
    """Unbiased MMD^2 of x and y (N, M >= 2; IMQ kernel): can be slightly negative."""
    n, m = x.shape[0], y.shape[0]
    kxx = (jnp.sum(imq_kernel(x, x)) - n) / (n * (n - 1))  # k(x, x) = 1 on the diagonal
    kyy = (jnp.sum(imq_kernel(y, y)) - m) / (m * (m - 1))
    return kxx + kyy - 2.0 * jnp.mean(imq_kernel(x, y))


def code_statistics(z: Codes, prior_z: Codes, moments: bool = True) -> dict[str, jax.Array]:
    """How far codes are from the prior's draws, float32 scalars, 0 for a match: "code_mmd"
    (any prior); with `moments` (only N(0, I) is fixed by two) "code_mean_norm": |mean z|,
    "code_cov_dist": |cov(z) - I|_F / sqrt(D) (1 for codes all at one point)."""
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


def own_region_share(prior: priors.Prior, z: Codes, labels: Labels) -> jax.Array:
    """The share of codes in their own label's region of `prior`: 0.1 by chance."""
    return jnp.mean(prior.region(z) == labels)


def interpolate(z_from: Codes, z_to: Codes, num: int) -> jax.Array:
    """[P, num, D]: `num` codes on each straight line from z_from [P] to z_to [P], ends included."""
    t = jnp.linspace(0.0, 1.0, num)[None, :, None]
    return (1.0 - t) * z_from[:, None, :] + t * z_to[:, None, :]
