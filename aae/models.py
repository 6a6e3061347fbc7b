"""The AAE's networks (Flax linen, NHWC): encoder, decoder, discriminator on z, and the whole."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from common import nets, priors
from common.shapes import Codes, TanhImages


class Encoder(nn.Module):
    """Images -> codes. Stochastic, it predicts (mean, log_std) and draws z from `key` by
    reparameterisation, or without a key returns the mean (for evaluation)."""

    num_filters: int
    z_dim: int
    stochastic: bool = False
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: TanhImages, key: jax.Array | None = None) -> Codes:
        h = nets.EncoderTrunk(self.num_filters, nn.relu, self.conv_impl)(x)
        if not self.stochastic:
            return nn.Dense(self.z_dim)(h)
        mean, log_std = jnp.split(nn.Dense(2 * self.z_dim)(h), 2, axis=-1)
        if key is None:
            return mean
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)


class Decoder(nn.Module):
    """Codes -> images (tanh output)."""

    num_filters: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: Codes) -> TanhImages:
        return jnp.tanh(nets.DecoderTrunk(self.num_filters, 1, nn.relu, self.conv_impl)(z))


class Discriminator(nn.Module):
    """Codes -> logits [B, 1] of "z came from the prior". Label-guided, each code is concatenated
    with its condition [B, priors.NUM_CONDITIONS], the one-hot of its label or of "no label"."""

    hidden: int

    @nn.compact
    def __call__(self, z: Codes, condition: jax.Array | None = None) -> jax.Array:
        if condition is not None:
            z = jnp.concatenate([z, condition.astype(z.dtype)], -1)
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
    prior: priors.Prior | None = None  # what `sample` decodes; None: N(0, I) of z_dim
    num_conditions: int = 0  # label-guided: priors.NUM_CONDITIONS (the discriminator's one-hot)

    def setup(self):
        if self.prior is not None and self.prior.z_dim != self.z_dim:
            raise ValueError(f"a {self.prior.z_dim}-D prior for codes of z_dim {self.z_dim}")
        self.encoder = Encoder(self.num_filters, self.z_dim, self.stochastic, self.conv_impl)
        self.decoder = Decoder(self.num_filters, self.conv_impl)
        self.discriminator = Discriminator(self.disc_hidden)

    def __call__(self, x: TanhImages, key: jax.Array | None = None) -> tuple[TanhImages, Codes]:
        """-> (reconstruction, z)."""
        z = self.encoder(x, key)
        return self.decoder(z), z

    def initialize(self, x: TanhImages) -> jax.Array:
        """Touches all three networks, for `init`."""
        _, z = self(x)
        condition = None
        if self.num_conditions:
            condition = jnp.zeros((x.shape[0], self.num_conditions), z.dtype)
        return self.discriminator(z, condition)

    def encode(self, x: TanhImages, key: jax.Array | None = None) -> Codes:
        return self.encoder(x, key)

    def decode(self, z: Codes) -> TanhImages:
        return self.decoder(z)

    def discriminate(self, z: Codes, condition: jax.Array | None = None) -> jax.Array:
        return self.discriminator(z, condition)

    def sample(self, key: jax.Array, num: int) -> TanhImages:
        """Decodes `num` draws of the prior."""
        prior = self.prior or priors.Gaussian(self.z_dim)
        return self.decoder(prior.sample(key, num))
