"""The AAE's networks (Flax linen, NHWC): encoder, decoder, discriminator on z, and the whole."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from common import nets


class Encoder(nn.Module):
    """[B, 28, 28, 1] float in [-1, 1] -> z [B, z_dim] float32.

    Deterministic by default. With `stochastic=True` it predicts (mean, log_std) and draws z by
    reparameterisation from `key`; without a key it returns the mean (for evaluation).
    """

    num_filters: int
    z_dim: int
    stochastic: bool = False
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        h = nets.EncoderTrunk(self.num_filters, nn.relu, self.conv_impl)(x)
        if not self.stochastic:
            return nn.Dense(self.z_dim)(h)
        mean, log_std = jnp.split(nn.Dense(2 * self.z_dim)(h), 2, axis=-1)
        if key is None:
            return mean
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)


class Decoder(nn.Module):
    """z [B, z_dim] float -> images [B, 28, 28, 1] float32 in [-1, 1] (tanh output)."""

    num_filters: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        return jnp.tanh(nets.DecoderTrunk(self.num_filters, 1, nn.relu, self.conv_impl)(z))


class Discriminator(nn.Module):
    """z [B, z_dim] float -> logits [B, 1] float32 of "z came from the prior"; no sigmoid."""

    hidden: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = nn.leaky_relu(nn.Dense(self.hidden)(z), negative_slope=0.2)
        h = nn.leaky_relu(nn.Dense(self.hidden)(h), negative_slope=0.2)
        return nn.Dense(1)(h)


class AdversarialAE(nn.Module):
    """Encoder, decoder and discriminator; params {"encoder", "decoder", "discriminator"}."""

    num_filters: int
    z_dim: int
    disc_hidden: int
    stochastic: bool = False  # True: z drawn from q(z|x) by reparameterisation
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    def setup(self):
        self.encoder = Encoder(self.num_filters, self.z_dim, self.stochastic, self.conv_impl)
        self.decoder = Decoder(self.num_filters, self.conv_impl)
        self.discriminator = Discriminator(self.disc_hidden)

    def __call__(self, x: jax.Array, key: jax.Array | None = None):
        """x: [B, 28, 28, 1] float in [-1, 1] -> (recon_x [B, 28, 28, 1] in [-1, 1], z [B, z])."""
        z = self.encoder(x, key)
        return self.decoder(z), z

    def initialize(self, x: jax.Array) -> jax.Array:
        """Touches all three networks, for `init`. Returns discriminator logits [B, 1]."""
        _, z = self(x)
        return self.discriminator(z)

    def encode(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        return self.encoder(x, key)

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)

    def discriminate(self, z: jax.Array) -> jax.Array:
        return self.discriminator(z)

    def sample(self, key: jax.Array, num: int) -> jax.Array:
        """Decodes z ~ N(0, I): [num, 28, 28, 1] float32 in [-1, 1]."""
        return self.decoder(jax.random.normal(key, (num, self.z_dim)))
