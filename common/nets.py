"""The convolutional trunks both models share (the course's Tutorial 9 autoencoder), NHWC.

Padding follows the PyTorch templates exactly: 3x3 convolutions pad 1 on every side, and a
stride-2 transposed convolution with PyTorch's `output_padding=op` pads the dilated input by
(1, 1 + op), so the decoder grows 4 -> 7 -> 14 -> 28.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def lecun_normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """flax's default kernel init, drawn as a 2-d [fan_in, fan_out] array and reshaped.

    The numbers are those of `nn.initializers.lecun_normal()(key, shape)` (partitionable threefry
    draws depend on the flat index only; tested), but XLA:CPU compiles a 4-d draw such as
    [3, 3, 8, 16] in about 8 s and a 2-d one in under 1 s: this is most of a model's start-up.
    """
    flat = nn.initializers.lecun_normal()(key, (math.prod(shape[:-1]), shape[-1]), dtype)
    return flat.reshape(shape)


def _patches_3x3(x: jax.Array, stride: int) -> jax.Array:
    """[B, H, W, C] -> [B, Ho, Wo, 9C]: the 3x3 neighbourhoods (zero padding 1) of each output."""
    b, h, w, c = x.shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    span_h, span_w = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    return jnp.concatenate(
        [
            xp[:, i : i + span_h : stride, j : j + span_w : stride]
            for i in range(3)
            for j in range(3)
        ],
        axis=-1,
    )


def _phase_weights(kernel: jax.Array) -> jax.Array:
    """[3, 3, C, F] kernel -> [4C, 4F] matrix from 2x2 input patches to the 4 output phases.

    For a stride-2 transposed convolution (flax semantics, no kernel flip, padding (1, 1 + op)),
    output row 2p takes input row p through kernel row 1, and output row 2p + 1 takes input rows
    p and p + 1 through kernel rows 0 and 2; columns alike. Patch offset d in {0, 1} and phase
    a in {0, 1} select kernel row _TAP[a][d] (-1: no tap).
    """
    c, f = kernel.shape[2:]
    blocks = []
    for dy in (0, 1):
        for dx in (0, 1):
            row = []
            for a in (0, 1):
                for b in (0, 1):
                    ky, kx = _TAP[a][dy], _TAP[b][dx]
                    row.append(kernel[ky, kx] if ky >= 0 and kx >= 0 else jnp.zeros((c, f)))
            blocks.append(jnp.concatenate(row, axis=1))  # [C, 4F]
    return jnp.concatenate(blocks, axis=0)  # [4C, 4F]


_TAP = ((1, -1), (0, 2))  # _TAP[phase][offset] -> kernel index


class Conv(nn.Module):
    """3x3 convolution, padding 1 on every side, stride 1 or 2; [B, H, W, C] -> [B, Ho, Wo, F].

    Same parameters (`kernel` [3, 3, C, F], `bias` [F]) and initialisers as `flax.linen.Conv`,
    so checkpoints are interchangeable. impl="matmul" computes it as one im2col matmul:
    XLA:CPU runs its own convolutions inside a `lax.scan` (our compiled epoch) about 10x slower
    than outside one (measured: 3.6 s vs 0.22 s for a 14x14x64 conv's forward + backward at
    batch 128), while slices and matmuls keep their speed. "xla" is flax's lax convolution.
    """

    features: int
    stride: int = 1
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        kernel = self.param("kernel", lecun_normal, (3, 3, c, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if _resolve(self.impl) == "xla":
            y = jax.lax.conv_general_dilated(
                x,
                kernel,
                (self.stride,) * 2,
                ((1, 1), (1, 1)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
        else:
            y = _patches_3x3(x, self.stride) @ kernel.reshape(9 * c, self.features)
        return y + bias.reshape(1, 1, 1, -1)


class ConvTranspose(nn.Module):
    """3x3 stride-2 transposed convolution as PyTorch's ConvTranspose2d(3, 2, padding=1,
    output_padding=op); [B, H, W, C] -> [B, 2H - 1 + op, 2W - 1 + op, F].

    Same parameters and initialisers as `flax.linen.ConvTranspose` with padding (1, 1 + op).
    impl="matmul" computes the four output phases (sub-pixel decomposition) with one matmul of
    2x2 input patches; see Conv for why.
    """

    features: int
    output_padding: int = 0
    impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        kernel = self.param("kernel", lecun_normal, (3, 3, c, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        pad = (1, 1 + self.output_padding)
        if _resolve(self.impl) == "xla":
            y = jax.lax.conv_transpose(
                x, kernel, (2, 2), (pad, pad), dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return y + bias.reshape(1, 1, 1, -1)
        xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
        patches = jnp.concatenate(
            [xp[:, dy : dy + h, dx : dx + w] for dy in (0, 1) for dx in (0, 1)], axis=-1
        )
        y = patches @ _phase_weights(kernel)  # [B, H, W, (a, b, F)]
        y = y.reshape(b, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
        size_h, size_w = 2 * h - 1 + self.output_padding, 2 * w - 1 + self.output_padding
        return y.reshape(b, 2 * h, 2 * w, self.features)[:, :size_h, :size_w] + bias.reshape(
            1, 1, 1, -1
        )


def _resolve(impl: str) -> str:
    if impl not in ("auto", "matmul", "xla"):
        raise ValueError(f"conv impl {impl!r}: expected auto, matmul or xla")
    return ("matmul" if jax.default_backend() == "cpu" else "xla") if impl == "auto" else impl


def conv3x3(features: int, stride: int = 1) -> Conv:
    return Conv(features, stride)


def conv_transpose3x3(features: int, output_padding: int) -> ConvTranspose:
    return ConvTranspose(features, output_padding)


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
