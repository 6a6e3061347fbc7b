"""The convolutional trunks both models share (the course's Tutorial 9 autoencoder), NHWC.

Padding follows the PyTorch templates exactly: 3x3 convolutions pad 1 on every side, and a
stride-2 transposed convolution with PyTorch's `output_padding=op` pads the dilated input by
(1, 1 + op), so the decoder grows 4 -> 7 -> 14 -> 28.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax


def conv3x3(features: int, stride: int = 1, name: str | None = None) -> nn.Conv:
    return nn.Conv(features, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)), name=name)


def conv_transpose3x3(features: int, output_padding: int, name: str | None = None):
    pad = (1, 1 + output_padding)
    return nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding=(pad, pad), name=name)


class EncoderTrunk(nn.Module):
    """[B, 28, 28, C] float -> [B, 4 * 4 * 2c] float: five 3x3 convs, strides 2, 1, 2, 1, 2."""

    num_filters: int
    act: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.num_filters
        for features, stride in ((c, 2), (c, 1), (2 * c, 2), (2 * c, 1), (2 * c, 2)):
            x = self.act(conv3x3(features, stride)(x))  # 28 -> 14 -> 14 -> 7 -> 7 -> 4
        return x.reshape(x.shape[0], -1)


class DecoderTrunk(nn.Module):
    """[B, z_dim] float -> [B, 28, 28, out_channels] float, no output activation.

    Dense to 4 * 4 * 2c, then transposed convs 4 -> 7 -> 14 -> 28 with a 3x3 conv between them.
    """

    num_filters: int
    out_channels: int
    act: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        c = self.num_filters
        x = self.act(nn.Dense(4 * 4 * 2 * c)(z)).reshape(z.shape[0], 4, 4, 2 * c)
        x = self.act(conv_transpose3x3(2 * c, output_padding=0)(x))  # 4 -> 7
        x = self.act(conv3x3(2 * c)(x))
        x = self.act(conv_transpose3x3(c, output_padding=1)(x))  # 7 -> 14
        x = self.act(conv3x3(c)(x))
        return conv_transpose3x3(self.out_channels, output_padding=1)(x)  # 14 -> 28
