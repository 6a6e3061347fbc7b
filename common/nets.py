"""The convolutional trunks both models share (the course's Tutorial 9 autoencoder), NHWC.

Padding follows the PyTorch templates: 3x3 convolutions pad 1, and a stride-2 transposed
convolution with PyTorch's `output_padding=op` pads the dilated input by (1, 1 + op).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from common import conv


def lecun_normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """`nn.initializers.lecun_normal()(key, shape)`'s numbers (partitionable threefry depends on
    the flat index only; tested), drawn 2-d: XLA:CPU compiles a 4-d draw in 8 s, 2-d in 1 s."""
    flat = nn.initializers.lecun_normal()(key, (math.prod(shape[:-1]), shape[-1]), dtype)
    return flat.reshape(shape)


class Conv(nn.Module):
    """`nn.Conv(F, (3, 3), (s, s), padding=((1, 1), (1, 1)))`, the same params and init: impl
    "cpu" runs `common.conv.conv3x3`, "xla" XLA's, "auto" "cpu" on the CPU backend."""

    features: int
    stride: int = 1
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_input(x)
        if self.stride not in (1, 2):
            raise ValueError(f"conv stride must be 1 or 2, got {self.stride}")
        kernel = self.param("kernel", lecun_normal, (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if _resolve(self.impl) == "cpu":
            y = conv.conv3x3(x, kernel, self.stride)
        else:
            y = jax.lax.conv_general_dilated(
                x, kernel, (self.stride,) * 2, ((1, 1), (1, 1)), dimension_numbers=conv.DN
            )
        return y + bias.reshape(1, 1, 1, -1)


class ConvTranspose(nn.Module):
    """PyTorch's ConvTranspose2d(3, 2, padding=1, output_padding=op): [B, H, W, C] ->
    [B, 2H - 1 + op, 2W - 1 + op, F]; flax's `nn.ConvTranspose` params and init; impl as in Conv."""

    features: int
    output_padding: int = 0
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_input(x)
        if self.output_padding not in (0, 1):
            raise ValueError(f"output_padding must be 0 or 1, got {self.output_padding}")
        kernel = self.param("kernel", lecun_normal, (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if _resolve(self.impl) == "cpu":
            y = conv.conv_transpose3x3(x, kernel, self.output_padding)
        else:
            y = conv.conv_transpose_forward(x, kernel, self.output_padding)
        return y + bias.reshape(1, 1, 1, -1)


IMPLS = ("auto", "cpu", "xla")


def _resolve(impl: str) -> str:
    """Maps "auto" to "cpu" on the CPU backend, "xla" elsewhere (where XLA convs are fast)."""
    if impl not in IMPLS:
        raise ValueError(f"conv impl {impl!r}: expected one of {', '.join(IMPLS)}")
    if impl == "auto":
        return "cpu" if jax.default_backend() == "cpu" else "xla"
    return impl


def _check_input(x: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected an NHWC input of rank 4, got shape {x.shape}")


class EncoderTrunk(nn.Module):
    """[B, 28, 28, C] -> [B, 4 * 4 * 2c]: five 3x3 convs, strides 2, 1, 2, 1, 2."""

    num_filters: int
    act: Callable[[jax.Array], jax.Array]
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.num_filters
        for features, stride in ((c, 2), (c, 1), (2 * c, 2), (2 * c, 1), (2 * c, 2)):
            x = self.act(Conv(features, stride, self.conv_impl)(x))  # 28 -> 14 -> 14 -> 7 -> 7 -> 4
        return x.reshape(x.shape[0], -1)


class DecoderTrunk(nn.Module):
    """[B, z_dim] -> [B, 28, 28, out_channels], no output activation: dense to 4 x 4 x 2c, then
    transposed convs 4 -> 7 -> 14 -> 28 with a 3x3 conv between them."""

    num_filters: int
    out_channels: int
    act: Callable[[jax.Array], jax.Array]
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        c, impl = self.num_filters, self.conv_impl
        x = self.act(nn.Dense(4 * 4 * 2 * c)(z)).reshape(z.shape[0], 4, 4, 2 * c)
        x = self.act(ConvTranspose(2 * c, 0, impl)(x))  # 4 -> 7
        x = self.act(Conv(2 * c, 1, impl)(x))
        x = self.act(ConvTranspose(c, 1, impl)(x))  # 7 -> 14
        x = self.act(Conv(c, 1, impl)(x))
        return ConvTranspose(self.out_channels, 1, impl)(x)  # 14 -> 28
