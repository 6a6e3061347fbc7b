"""The VAE's networks (Flax linen, NHWC): Encoder, Decoder and the VAE tying them."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from common import nets
from common.input_pipeline import NUM_VALUES
from vae import losses


class Encoder(nn.Module):
    """q(z|x): [B, 28, 28, 1] int in 0..15 -> (mean, log_std), each [B, z_dim] float32."""

    num_filters: int
    z_dim: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x.astype(jnp.float32) * (2.0 / (NUM_VALUES - 1)) - 1.0  # 0..15 -> [-1, 1]
        h = nets.EncoderTrunk(self.num_filters, nn.gelu, self.conv_impl)(x)
        mean, log_std = jnp.split(nn.Dense(2 * self.z_dim)(h), 2, axis=-1)
        return mean, log_std


class Decoder(nn.Module):
    """f_theta(z): [B, z_dim] float -> logits [B, 28, 28, num_values] float32, no softmax."""

    num_filters: int
    num_values: int = NUM_VALUES
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        return nets.DecoderTrunk(self.num_filters, self.num_values, nn.gelu, self.conv_impl)(z)


class VAE(nn.Module):
    """Encoder, reparameterised sample, decoder and the ELBO in bits per dimension."""

    num_filters: int
    z_dim: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way
    num_values: int = NUM_VALUES  # the 4-bit data's, not a setting

    def setup(self):
        self.encoder = Encoder(self.num_filters, self.z_dim, self.conv_impl)
        self.decoder = Decoder(self.num_filters, self.num_values, self.conv_impl)

    def __call__(self, images: jax.Array, key: jax.Array) -> losses.ElboTerms:
        """images: [B, 28, 28, 1] int in 0..15; key: PRNG key for z ~ q(z|x).

        Returns:
          ElboTerms of batch means (scalars): L_rec and L_reg in nats per image, bpd of the
          negative ELBO.
        """
        return losses.ElboTerms(*map(jnp.mean, self.per_example_losses(images, key)))

    def per_example_losses(self, images: jax.Array, key: jax.Array) -> losses.ElboTerms:
        """The objective of each image with one z ~ q(z|x) drawn from `key`: ElboTerms of [B]
        float32 (L_rec, L_reg in nats; bpd). Training, evaluation and vae.log_likelihood's ELBO all
        call this."""
        mean, log_std = self.encoder(images)
        z = losses.sample_reparameterize(key, mean, jnp.exp(log_std))
        return losses.elbo_terms(self.decoder(z), images, mean, log_std)

    def encode(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.encoder(images)

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)

    def sample(self, key: jax.Array, num: int):
        """Draws images from the model: z ~ N(0, I), then each pixel from its categorical.

        Returns:
          (samples [num, 28, 28, 1] int32 in 0..15, mean images [num, 28, 28, 1] float32 in
          0..15, the expectation of each pixel's categorical).
        """
        z_key, x_key = jax.random.split(key)
        z = jax.random.normal(z_key, (num, self.z_dim))
        return sample_pixels(x_key, self.decoder(z))


def sample_pixels(key: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """logits [B, H, W, K] -> (draws [B, H, W, 1] int32, means [B, H, W, 1] float32 in 0..K-1)."""
    # Drawn from a 2-d view: the same numbers, but XLA:CPU compiles 4-d random draws very slowly.
    flat = logits.reshape(-1, logits.shape[-1])
    draws = jax.random.categorical(key, flat, axis=-1).reshape(*logits.shape[:-1], 1)
    return draws.astype(jnp.int32), pixel_means(logits)


def pixel_means(logits: jax.Array) -> jax.Array:
    """logits [B, H, W, K] -> the mean of each pixel's categorical, [B, H, W, 1] in 0..K-1."""
    values = jnp.arange(logits.shape[-1], dtype=jnp.float32)
    return (jax.nn.softmax(logits, axis=-1) @ values)[..., None]
