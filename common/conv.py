"""3x3 convolutions whose forward and backward passes run fast on XLA:CPU.

`conv3x3(x, kernel, stride)` and `conv_transpose3x3(x, kernel, output_padding)` compute exactly
what flax's layers compute (`common.nets.Conv` / `ConvTranspose` call them on the CPU backend;
tests compare both with `nn.Conv` / `nn.ConvTranspose` to 1e-5, outputs and gradients):

    nn.Conv(F, (3, 3), (s, s), padding=((1, 1), (1, 1)))
        == conv3x3(x, kernel, s) + bias
    nn.ConvTranspose(F, (3, 3), (2, 2), padding=((1, 1 + p), (1, 1 + p)))
        == conv_transpose3x3(x, kernel, p) + bias

(`p` is PyTorch's `output_padding`; flax's default `transpose_kernel=False`.)

Why this exists. On XLA:CPU (jax 0.10.2, 2-core AMD EPYC) a VAE train step
built from flax's layers (batch 128, 28x28, 32/64 channels) took ~475 ms,
for three reasons:

1. The kernel gradient that JAX derives for `lax.conv_transpose` lowers to a
   convolution XLA:CPU runs very slowly: 155 ms for the 14->28 layer alone
   (batch 128), 125 ms for 7->14.
2. XLA:CPU hands every plain convolution to YNNPACK, which here ran 2x
   slower than XLA's other convolution path (Eigen): a 14x14, 32->32 channel
   conv forward took 15.8 ms vs 7.8 ms (batch 128). YNNPACK refuses
   convolutions with input ("base") dilation, and
   `conv(x, k, stride s, pad 1)` equals
   `conv(x dilated by 2, k dilated by 2, stride 2s, pad 2)` exactly, so
   writing it the second way sends it to Eigen.
3. Inside a while loop (`lax.scan`), XLA:CPU does not rewrite the kernel
   gradient convs JAX derives (batch as the contracted axis) into a form
   Eigen runs, and falls back to a naive loop: 20x slower.

The "cpu" form therefore writes every convolution of the forward and the
backward pass (via `jax.custom_vjp`) as a plain NHWC/HWIO conv that XLA:CPU
runs with Eigen, in or out of a loop:

- the gradient w.r.t. the input of a conv is a conv of the output gradient
  with the flipped, in/out-swapped kernel (`_flip_io`): stride 1 -> a stride 1
  conv; stride 2 -> a transposed conv;
- the gradient w.r.t. the input of a transposed conv is a stride-2 conv, and
  its kernel gradient is the (flipped) kernel gradient of that stride-2 conv;
- a kernel gradient is one convolution contracting over batch and space,
  with explicit transposes to NHWC/HWIO.

Measured when this was written (2-core AMD EPYC, jax 0.10.2), median train step (forward +
backward + Adam), one process:
VAE (batch 128) 474 ms with flax's layers -> 222 ms with "cpu" (PyTorch 2.13
on the same 2 cores: 222 ms); AAE (batch 64) 164 ms -> 86 ms (PyTorch: 100 ms).
Inside a 5-step `lax.scan`: VAE 2933 ms/step with flax's layers -> 197 ms.
(README's performance table has the current side-by-side numbers, on a faster CPU.)
The ten conv layers' forward + backward alone: 373 ms -> 130 ms.
Forms tried and dropped because they were slower here: im2col (9 shifted
slices concatenated + one matmul: XLA:CPU's concatenation and its YNNPACK
matmul are both slow, ~16 ms to build the patches of a 14x14x32 batch), and
sub-pixel (phase) forms of the transposed conv as one matmul or as a 2x2 conv
giving the 4 output phases (no faster than Eigen's base-dilated conv in a
full train step).

On GPU and TPU, XLA's own convolutions are used (common.nets picks by backend).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

DN = ("NHWC", "HWIO", "NHWC")

# Below this many input channels the plain conv is faster than the Eigen
# (base-dilated) form: the first encoder layer (1 -> 32 channels) took 1.0 ms
# plain vs 3.4 ms dilated; the input gradient of a 32 -> 1 transposed conv
# 1.4 ms vs 6.3 ms (batch 128).
_MIN_CHANNELS_FOR_DILATED_FORM = 8


def _flip_io(kernel: jax.Array) -> jax.Array:
    """Flips a kernel spatially and swaps its in/out channels.

    Args:
        kernel: (3, 3, Cin, F) HWIO kernel.

    Returns:
        (3, 3, F, Cin) kernel: the one whose conv is the transpose of `kernel`'s.
    """
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _conv_forward(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """3x3 conv with padding 1, written so that XLA:CPU runs it with Eigen.

    Args:
        x: (B, H, W, Cin) input.
        kernel: (3, 3, Cin, F) HWIO kernel.
        stride: 1 or 2.

    Returns:
        (B, Ho, Wo, F) with Ho = (H - 1) // stride + 1 (same for W).
    """
    if stride == 2 and x.shape[1] % 2 != x.shape[2] % 2:
        # The input gradient (a transposed conv with one output_padding) needs this.
        raise ValueError(f"stride-2 conv needs H and W of the same parity, got {x.shape}")
    if x.shape[-1] < _MIN_CHANNELS_FOR_DILATED_FORM:
        return lax.conv_general_dilated(
            x, kernel, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=DN
        )
    # Input and kernel dilated by 2, stride and padding doubled: the same sums
    # (each tap still meets exactly one real pixel), but YNNPACK refuses input
    # dilation, so XLA:CPU uses Eigen (2x faster here, see module docstring).
    return lax.conv_general_dilated(
        x,
        kernel,
        (2 * stride, 2 * stride),
        ((2, 2), (2, 2)),
        lhs_dilation=(2, 2),
        rhs_dilation=(2, 2),
        dimension_numbers=DN,
    )


def conv_transpose_forward(x: jax.Array, kernel: jax.Array, output_padding: int) -> jax.Array:
    """Flax's stride-2 3x3 transposed conv (padding (1, 1 + output_padding)).

    Already input-dilated, so XLA:CPU runs it with Eigen as it stands.

    Args:
        x: (B, n, m, Cin) input.
        kernel: (3, 3, Cin, F) HWIO kernel, not transposed (flax's default).
        output_padding: 0 or 1.

    Returns:
        (B, 2n - 1 + output_padding, 2m - 1 + output_padding, F).
    """
    pad = (1, 1 + output_padding)
    return lax.conv_transpose(x, kernel, (2, 2), (pad, pad), dimension_numbers=DN)


def _kernel_grad(x: jax.Array, dy: jax.Array, stride: int) -> jax.Array:
    """Gradient w.r.t. the kernel of `conv(x, kernel, stride, padding 1)`.

    dk[u, v, c, f] = sum_{b, i, j} x_padded[b, stride*i + u, stride*j + v, c] * dy[b, i, j, f],
    written as one convolution (batch `b` is its contracted "feature" axis)
    in the dilated form of `_conv_forward`, for the same reason.

    Args:
        x: (B, H, W, Cin) conv input.
        dy: (B, Ho, Wo, F) gradient w.r.t. the conv output.
        stride: 1 or 2.

    Returns:
        (3, 3, Cin, F) kernel gradient.
    """
    # High padding that makes the output exactly 3x3.
    hi = [2 + stride * (dy.shape[a] - 1) - x.shape[a] for a in (1, 2)]
    # Explicit transposes to the NHWC / HWIO layout (channels as the batch, the
    # batch as the contracted feature axis). Passing the same layout through
    # dimension numbers instead is equivalent, and XLA:CPU transposes for us in
    # a top-level computation, but inside a while loop (lax.scan) it leaves
    # such a conv to its naive emitter: 613 ms instead of ~10 ms (14x14x32).
    x_t = x.transpose(3, 1, 2, 0)  # (Cin, H, W, B)
    dy_t = dy.transpose(1, 2, 0, 3)  # (Ho, Wo, B, F)
    dk_t = lax.conv_general_dilated(
        x_t,
        dy_t,
        (2, 2),
        ((2, 2 * hi[0]), (2, 2 * hi[1])),
        lhs_dilation=(2, 2),
        rhs_dilation=(2 * stride, 2 * stride),
        dimension_numbers=DN,
    )  # (Cin, 3, 3, F)
    return dk_t.transpose(1, 2, 0, 3)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """3x3 conv, padding 1, whose forward and backward both run fast on XLA:CPU.

    Equal to `lax.conv_general_dilated(x, kernel, (stride, stride),
    ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))`.

    Args:
        x: (B, H, W, Cin) input, float.
        kernel: (3, 3, Cin, F) HWIO kernel, same dtype.
        stride: 1 or 2 (static).

    Returns:
        (B, (H - 1) // stride + 1, (W - 1) // stride + 1, F).
    """
    return _conv_forward(x, kernel, stride)


def _conv3x3_fwd(x, kernel, stride):
    return _conv_forward(x, kernel, stride), (x, kernel)


def _conv3x3_bwd(stride, residuals, dy):
    x, kernel = residuals
    if stride == 1:
        dx = conv3x3(dy, _flip_io(kernel), 1)
    else:
        # Input sizes 2n and 2n - 1 both give n outputs; output_padding tells them apart.
        dx = conv_transpose3x3(dy, _flip_io(kernel), 1 - x.shape[1] % 2)
    return dx, _kernel_grad(x, dy, stride)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_transpose3x3(x: jax.Array, kernel: jax.Array, output_padding: int) -> jax.Array:
    """Stride-2 3x3 transposed conv whose forward and backward run fast on XLA:CPU.

    Equal to `lax.conv_transpose(x, kernel, (2, 2), ((1, 1 + output_padding),) * 2,
    dimension_numbers=("NHWC", "HWIO", "NHWC"))` (flax's `nn.ConvTranspose`).

    Args:
        x: (B, n, m, Cin) input, float.
        kernel: (3, 3, Cin, F) HWIO kernel, same dtype.
        output_padding: 0 or 1 (static).

    Returns:
        (B, 2n - 1 + output_padding, 2m - 1 + output_padding, F).
    """
    return conv_transpose_forward(x, kernel, output_padding)


def _conv_transpose3x3_fwd(x, kernel, output_padding):
    return conv_transpose_forward(x, kernel, output_padding), (x, kernel)


def _conv_transpose3x3_bwd(output_padding, residuals, dy):
    # conv_transpose(., K) is the input-gradient of conv(., _flip_io(K), stride 2),
    # so its own input-gradient is that stride-2 conv, and its kernel gradient is
    # the kernel gradient of that conv (input dy, output gradient x), flipped back.
    # (JAX's derived kernel gradient took 155 ms for the 14 -> 28 layer; this ~10 ms.)
    x, kernel = residuals
    dx = conv3x3(dy, _flip_io(kernel), 2)
    dk = _flip_io(_kernel_grad(dy, x, 2))
    return dx, dk


conv_transpose3x3.defvjp(_conv_transpose3x3_fwd, _conv_transpose3x3_bwd)
