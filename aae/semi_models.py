"""The semi-supervised AAE's networks (the AAE paper's Figure 8): the encoder gives a class (or
cluster) y, a softmax over K, and a deterministic style z; the decoder sees the code (z, y), z
first, so a code's first z_dim columns are always z. The style discriminator tells z from prior
draws, the class one y from one-hot draws. Params: {"encoder", "decoder", "style_discriminator",
"class_discriminator"}.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from aae import models
from common import nets
from common.shapes import Codes, TanhImages


def sample_categorical(key: jax.Array, num: int, num_classes: int) -> jax.Array:
    """Draws of y's uniform categorical prior: one-hots, float32 [num, num_classes]."""
    return jax.nn.one_hot(jax.random.randint(key, (num,), 0, num_classes), num_classes)


class SemiEncoder(nn.Module):
    """x -> (y logits [B, num_classes], unnormalised; z [B, z_dim]): the AAE's trunk (ReLU)
    and two dense heads."""

    num_filters: int
    z_dim: int
    num_classes: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: TanhImages) -> tuple[jax.Array, Codes]:
        h = nets.EncoderTrunk(self.num_filters, nn.relu, self.conv_impl)(x)
        logits = nn.Dense(self.num_classes, name="class_head")(h)
        return logits, nn.Dense(self.z_dim, name="style_head")(h)


class SemiSupervisedAAE(nn.Module):
    """Encoder, decoder of the code (z, y), and a discriminator on each of z and y."""

    num_filters: int
    z_dim: int
    num_classes: int
    disc_hidden: int
    conv_impl: str = "auto"

    def setup(self):
        self.encoder = SemiEncoder(self.num_filters, self.z_dim, self.num_classes, self.conv_impl)
        self.decoder = models.Decoder(self.num_filters, self.conv_impl)
        self.style_discriminator = models.Discriminator(self.disc_hidden)
        self.class_discriminator = models.Discriminator(self.disc_hidden)

    def __call__(self, x: TanhImages) -> tuple[TanhImages, jax.Array]:
        """(recon_x, y logits): the decoder sees z and the logits' softmax."""
        logits, z = self.encoder(x)
        return self.decode(code(z, jax.nn.softmax(logits))), logits

    def initialize(self, x: TanhImages) -> tuple[jax.Array, jax.Array]:
        """Touches all four networks, for `init`: both discriminators' logits [B, 1]."""
        logits, z = self.encoder(x)
        self.decode(code(z, jax.nn.softmax(logits)))
        return self.style_discriminator(z), self.class_discriminator(jax.nn.softmax(logits))

    def encode(self, x: TanhImages) -> tuple[jax.Array, Codes]:
        """(y logits [B, num_classes], z)."""
        return self.encoder(x)

    def decode(self, codes: Codes) -> TanhImages:
        """Codes (z, y) [B, z_dim + num_classes] -> images."""
        return self.decoder(codes)

    def discriminate_style(self, z: Codes) -> jax.Array:
        """Logits [B, 1] of "drawn from the prior"."""
        return self.style_discriminator(z)

    def discriminate_class(self, y: jax.Array) -> jax.Array:
        """y [B, num_classes] (probabilities or one-hots) -> logits [B, 1] of "a one-hot draw"."""
        return self.class_discriminator(y)


def code(z: Codes, y: jax.Array) -> Codes:
    """The decoder's input (z, y): [B, z_dim + K]."""
    return jnp.concatenate([z, y.astype(z.dtype)], axis=-1)
