"""The VAE's networks (Flax linen, NHWC): Encoder, Decoder and the VAE tying them."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from common import nets, shapes
from common.shapes import Codes, Logits, Pixels4
from vae import losses


class Encoder(nn.Module):
    """q(z|x): images -> (mean, log_std)."""

    num_filters: int
    z_dim: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: Pixels4) -> tuple[Codes, Codes]:
        x = x.astype(jnp.float32) * (2.0 / (shapes.NUM_VALUES - 1)) - 1.0  # 0..15 -> [-1, 1]
        # flax's nn.gelu is GELU's tanh form; Tutorial 9 (PyTorch's nn.GELU) has the erf form,
        # at most 4.7e-4 from it (near |x| = 2.7). Kept: every VAE run of docs/ trained with it.
        h = nets.EncoderTrunk(self.num_filters, nn.gelu, self.conv_impl)(x)
        mean, log_std = jnp.split(nn.Dense(2 * self.z_dim)(h), 2, axis=-1)
        return mean, log_std


class Decoder(nn.Module):
    """f_theta(z): codes -> logits, one categorical of num_values per pixel."""

    num_filters: int
    num_values: int = shapes.NUM_VALUES
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: Codes) -> Logits:
        return nets.DecoderTrunk(self.num_filters, self.num_values, nn.gelu, self.conv_impl)(z)


class VAE(nn.Module):
    """Encoder, reparameterised sample, decoder and the ELBO in bits per dimension."""

    num_filters: int
    z_dim: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way
    num_values: int = shapes.NUM_VALUES  # the 4-bit data's, not a setting

    def setup(self):
        self.encoder = Encoder(self.num_filters, self.z_dim, self.conv_impl)
        self.decoder = Decoder(self.num_filters, self.num_values, self.conv_impl)

    def __call__(self, images: Pixels4, key: jax.Array) -> losses.ElboTerms:
        """per_example_losses' batch means (scalars)."""
        return losses.ElboTerms(*map(jnp.mean, self.per_example_losses(images, key)))

    def per_example_losses(self, images: Pixels4, key: jax.Array) -> losses.ElboTerms:
        """Each image's objective with one z ~ q(z|x) drawn from `key`: the one place training,
        evaluation and vae.log_likelihood's ELBO compute it."""
        return self.per_example_losses_and_codes(images, key)[0]

    def per_example_losses_and_codes(
        self, images: Pixels4, key: jax.Array
    ) -> tuple[losses.ElboTerms, Codes]:
        """per_example_losses and the z it drew (validation's codes, without a second pass)."""
        mean, log_std = self.encoder(images)
        z = losses.sample_reparameterize(key, mean, jnp.exp(log_std))
        return losses.elbo_terms(self.decoder(z), images, mean, log_std), z

    def encode(self, images: Pixels4) -> tuple[Codes, Codes]:
        return self.encoder(images)

    def decode(self, z: Codes) -> Logits:
        return self.decoder(z)

    def sample(self, key: jax.Array, num: int) -> tuple[Pixels4, jax.Array]:
        """z ~ N(0, I) decoded: (each pixel drawn from its categorical, pixel_means)."""
        z_key, x_key = jax.random.split(key)
        z = jax.random.normal(z_key, (num, self.z_dim))
        return sample_pixels(x_key, self.decoder(z))


def sample_pixels(key: jax.Array, logits: Logits) -> tuple[Pixels4, jax.Array]:
    """(a draw of each pixel's categorical, pixel_means)."""
    # Drawn from a 2-d view: the same numbers, but XLA:CPU compiles 4-d random draws very slowly.
    flat = logits.reshape(-1, logits.shape[-1])
    draws = jax.random.categorical(key, flat, axis=-1).reshape(*logits.shape[:-1], 1)
    return draws.astype(jnp.int32), pixel_means(logits)


def pixel_means(logits: Logits) -> jax.Array:
    """The mean of each pixel's categorical: float32 [B, 28, 28, 1] in 0..15."""
    values = jnp.arange(logits.shape[-1], dtype=jnp.float32)
    return (jax.nn.softmax(logits, axis=-1) @ values)[..., None]
