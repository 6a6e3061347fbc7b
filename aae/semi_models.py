"""The semi-supervised AAE's networks (the AAE paper's Figure 8), Flax linen, NHWC.

The encoder gives two codes of an image: the class (or cluster) y, a softmax over K, and a
deterministic style z of z_dim. The decoder sees both, as one code (z, y) [B, z_dim + K]: the
style first, so the first z_dim columns of a code are always z. Two discriminators, the AAE's
MLP shape each: one tells the encoder's z from N(0, I) draws, the other its y from one-hot draws
of the uniform categorical prior (`sample_categorical`).

Params: {"encoder", "decoder", "style_discriminator", "class_discriminator"}.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from aae import models
from common import nets


def sample_categorical(key: jax.Array, num: int, num_classes: int) -> jax.Array:
    """Draws of the uniform categorical prior of y: one-hots [num, num_classes] float32, each
    class with probability 1 / num_classes."""
    return jax.nn.one_hot(jax.random.randint(key, (num,), 0, num_classes), num_classes)


class SemiEncoder(nn.Module):
    """[B, 28, 28, 1] float in [-1, 1] -> (y logits [B, num_classes], z [B, z_dim]) float32.

    The AAE's convolutional trunk (ReLU) and two dense heads on its features; the logits are
    unnormalised (q(y|x) is their softmax), z is deterministic.
    """

    num_filters: int
    z_dim: int
    num_classes: int
    conv_impl: str = "auto"  # see common.nets.Conv: the same function either way

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
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

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x: [B, 28, 28, 1] float in [-1, 1] -> (recon_x [B, 28, 28, 1] in [-1, 1], y logits
        [B, num_classes]); the decoder sees z and the softmax of the logits."""
        logits, z = self.encoder(x)
        return self.decode(code(z, jax.nn.softmax(logits))), logits

    def initialize(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Touches all four networks, for `init`. Returns both discriminators' logits [B, 1]."""
        logits, z = self.encoder(x)
        self.decode(code(z, jax.nn.softmax(logits)))
        return self.style_discriminator(z), self.class_discriminator(jax.nn.softmax(logits))

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x -> (y logits [B, num_classes], z [B, z_dim])."""
        return self.encoder(x)

    def decode(self, codes: jax.Array) -> jax.Array:
        """codes (z, y) [B, z_dim + num_classes] -> images [B, 28, 28, 1] in [-1, 1]."""
        return self.decoder(codes)

    def discriminate_style(self, z: jax.Array) -> jax.Array:
        """z [B, z_dim] -> logits [B, 1] of "drawn from N(0, I)"."""
        return self.style_discriminator(z)

    def discriminate_class(self, y: jax.Array) -> jax.Array:
        """y [B, num_classes] (probabilities or one-hots) -> logits [B, 1] of "a one-hot draw of
        the categorical prior"."""
        return self.class_discriminator(y)


def code(z: jax.Array, y: jax.Array) -> jax.Array:
    """The decoder's input: z [B, z_dim] and y [B, K] side by side, [B, z_dim + K]."""
    return jnp.concatenate([z, y.astype(z.dtype)], axis=-1)
