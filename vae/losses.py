"""The VAE's objective as pure functions (assignment section 1.4-1.6). Losses are per example."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from common.shapes import Codes, Logits, PerImage, Pixels4

LOG2_E = math.log2(math.e)


def sample_reparameterize(key: jax.Array, mean: Codes, std: Codes) -> Codes:
    """One draw of N(mean, diag(std^2)) as mean + std * eps: differentiable in mean and std."""
    return mean + std * jax.random.normal(key, mean.shape, mean.dtype)


def kld(mean: Codes, log_std: Codes) -> PerImage:
    """KL(N(mean, diag(exp(log_std)^2)) || N(0, I)) in nats, summed over the last axis (Eq. 13)."""
    return 0.5 * jnp.sum(jnp.exp(2.0 * log_std) + mean**2 - 1.0 - 2.0 * log_std, axis=-1)


def categorical_nll(logits: Logits, x: Pixels4) -> PerImage:
    """-log p(x | logits) in nats, summed over pixels: the reconstruction loss L_rec of Eq. 13."""
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, x[..., 0])
    return jnp.sum(nll, axis=(1, 2))


def elbo_to_bpd(elbo: jax.Array, img_shape: tuple[int, ...]) -> jax.Array:
    """Negative ELBO in nats per image -> bpd: elbo * log2(e) / prod(img_shape[1:]) (img_shape:
    the batch's)."""
    return elbo * LOG2_E / math.prod(img_shape[1:])


class ElboTerms(NamedTuple):
    """The negative ELBO of each image and its two terms."""

    l_rec: jax.Array  # [B] float32, nats: -log p(x | z), one z sample
    l_reg: jax.Array  # [B] float32, nats: KL(q(z | x) || N(0, I))
    bpd: jax.Array  # [B] float32, bits per dimension of l_rec + l_reg


def elbo_terms(logits: Logits, x: Pixels4, mean: Codes, log_std: Codes) -> ElboTerms:
    """The VAE's objective per image (Eq. 13) for one z ~ q(z|x) = N(mean, exp(log_std)^2)."""
    l_rec, l_reg = categorical_nll(logits, x), kld(mean, log_std)
    return ElboTerms(l_rec, l_reg, elbo_to_bpd(l_rec + l_reg, x.shape))
