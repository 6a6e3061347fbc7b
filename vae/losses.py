"""The VAE's objective as pure functions (assignment section 1.4-1.6). Losses are per example."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

LOG2_E = math.log2(math.e)


def sample_reparameterize(key: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
    """Draws z = mean + std * eps, eps ~ N(0, I): differentiable in mean and std.

    Args:
      key: PRNG key.
      mean: [..., D] float.
      std: [..., D] float, positive.

    Returns:
      [..., D] float, one sample of N(mean, diag(std^2)).
    """
    return mean + std * jax.random.normal(key, mean.shape, mean.dtype)


def kld(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_std)^2)) || N(0, I)), summed over the last axis (Eq. 13).

    Args:
      mean, log_std: [..., D] float.

    Returns:
      [...] float, nats.
    """
    return 0.5 * jnp.sum(jnp.exp(2.0 * log_std) + mean**2 - 1.0 - 2.0 * log_std, axis=-1)


def categorical_nll(logits: jax.Array, x: jax.Array) -> jax.Array:
    """-log p(x | logits) summed over pixels: the reconstruction loss L_rec of Eq. 13.

    Args:
      logits: [B, H, W, K] float, unnormalised.
      x: [B, H, W, 1] int in 0..K-1.

    Returns:
      [B] float, nats per image.
    """
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, x[..., 0])
    return jnp.sum(nll, axis=(1, 2))


def elbo_to_bpd(elbo: jax.Array, img_shape: tuple[int, ...]) -> jax.Array:
    """Negative ELBO in nats per image -> bits per dimension.

    Args:
      elbo: [...] float, the negative ELBO (a negative log-likelihood bound) in nats per image.
      img_shape: shape of the image batch, batch axis first ([B, H, W, C]); all but the first
        axis count as dimensions.

    Returns:
      [...] float, elbo * log2(e) / prod(img_shape[1:]).
    """
    return elbo * LOG2_E / math.prod(img_shape[1:])


class ElboTerms(NamedTuple):
    """The negative ELBO of each image and its two terms."""

    l_rec: jax.Array  # [B] float32, nats: -log p(x | z), one z sample
    l_reg: jax.Array  # [B] float32, nats: KL(q(z | x) || N(0, I))
    bpd: jax.Array  # [B] float32, bits per dimension of l_rec + l_reg


def elbo_terms(logits: jax.Array, x: jax.Array, mean: jax.Array, log_std: jax.Array) -> ElboTerms:
    """The VAE's objective per image (Eq. 13), in nats and in bits per dimension.

    Args:
      logits: [B, H, W, K] float, the decoder's output for one z ~ q(z|x) per image.
      x: [B, H, W, 1] int in 0..K-1, the images.
      mean, log_std: [B, D] float, q(z|x).

    Returns:
      ElboTerms of [B] float32 each.
    """
    l_rec, l_reg = categorical_nll(logits, x), kld(mean, log_std)
    return ElboTerms(l_rec, l_reg, elbo_to_bpd(l_rec + l_reg, x.shape))
