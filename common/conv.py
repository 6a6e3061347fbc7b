"""3x3 convolutions equal to flax's layers (outputs and gradients to 1e-5, tested), in forms
XLA:CPU runs fast; `common.nets` uses them on the CPU backend only:

    nn.Conv(F, (3, 3), (s, s), padding=((1, 1), (1, 1)))
        == conv3x3(x, kernel, s) + bias
    nn.ConvTranspose(F, (3, 3), (2, 2), padding=((1, 1 + p), (1, 1 + p)))
        == conv_transpose3x3(x, kernel, p) + bias      (p: PyTorch's output_padding)

Why: XLA:CPU is fast only on convolutions it hands to Eigen. Plain ones go to YNNPACK (about 2x
slower here), and JAX's kernel gradients, and convolutions inside a `lax.scan`, to a naive loop
(20x slower). So every convolution forward and backward (`jax.custom_vjp`) uses input dilation,
which YNNPACK refuses: `conv(x, k, stride s, pad 1)` equals `conv(x dilated by 2, k dilated by 2,
stride 2s, pad 2)`. This halves a train step (docs/design.md has the measurements).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

DN = ("NHWC", "HWIO", "NHWC")

# Below this many input channels the plain conv is faster than the dilated form (3x for the
# encoder's 1 -> 32 layer and the decoder's last input gradient).
_MIN_CHANNELS_FOR_DILATED_FORM = 8


def _flip_io(kernel: jax.Array) -> jax.Array:
    """(3, 3, Cin, F) -> (3, 3, F, Cin): the kernel whose conv is the transpose of `kernel`'s."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _conv_forward(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """conv3x3's forward, written so that XLA:CPU runs it with Eigen."""
    if stride == 2 and x.shape[1] % 2 != x.shape[2] % 2:
        # The input gradient (a transposed conv with one output_padding) needs this.
        raise ValueError(f"stride-2 conv needs H and W of the same parity, got {x.shape}")
    if x.shape[-1] < _MIN_CHANNELS_FOR_DILATED_FORM:
        return lax.conv_general_dilated(
            x, kernel, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=DN
        )
    # Input and kernel dilated by 2, stride and padding doubled: the same sums
    # (each tap still meets exactly one real pixel), but YNNPACK refuses input
    # dilation, so XLA:CPU uses Eigen (see the module docstring).
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
    """conv_transpose3x3's forward, flax's own: input-dilated already, so Eigen runs it."""
    pad = (1, 1 + output_padding)
    return lax.conv_transpose(x, kernel, (2, 2), (pad, pad), dimension_numbers=DN)


def conv_transpose_phases(x: jax.Array, kernel: jax.Array, output_padding: int) -> jax.Array:
    """conv_transpose_forward as one 2 x 2 convolution giving the four output phases: output
    (2m + p, 2l + q) takes taps of x[m : m + 2, l : l + 2] only, 9 of the (2, 2, Cin, 4F)
    kernel's 16 taps nonzero, where the dilated form multiplies 36 per input pixel (mostly
    inserted zeros). Forward only."""
    b, n, m, _ = x.shape
    features = kernel.shape[-1]
    # Tap of the 3x3 kernel used by output phase p (rows) and input offset a (columns); 3: none.
    taps = jnp.array([[1, 3], [0, 2]])
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
    phases = padded[taps[:, :, None, None], taps[None, None, :, :]]  # (p, a, q, b, Cin, F)
    phases = phases.transpose(1, 3, 4, 0, 2, 5).reshape(2, 2, x.shape[-1], 4 * features)
    y = lax.conv_general_dilated(x, phases, (1, 1), ((0, 1), (0, 1)), dimension_numbers=DN)
    y = y.reshape(b, n, m, 2, 2, features).transpose(0, 1, 3, 2, 4, 5)
    y = y.reshape(b, 2 * n, 2 * m, features)
    return y[:, : 2 * n - 1 + output_padding, : 2 * m - 1 + output_padding]


def _kernel_grad(x: jax.Array, dy: jax.Array, stride: int) -> jax.Array:
    """dk (3, 3, Cin, F) of `conv3x3(x, kernel, stride)` given dy: dk[u, v, c, f] = sum_{b, i,
    j} x_padded[b, stride*i + u, stride*j + v, c] * dy[b, i, j, f], one dilated convolution
    contracting over the batch."""
    # High padding that makes the output exactly 3x3.
    hi = [2 + stride * (dy.shape[a] - 1) - x.shape[a] for a in (1, 2)]
    # Explicit transposes to NHWC / HWIO (channels as the batch, the batch as the contracted
    # feature axis): the same layout through dimension numbers is equivalent, but inside a
    # lax.scan XLA:CPU leaves that conv to its naive emitter (60x slower).
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
    """`lax.conv_general_dilated(x, kernel, (stride,) * 2, ((1, 1),) * 2, dimension_numbers=DN)`:
    (B, H, W, Cin), (3, 3, Cin, F) -> (B, (H - 1) // stride + 1, (W - 1) // stride + 1, F);
    stride 1 or 2 (static; stride 2 needs H and W of the same parity)."""
    return _conv_forward(x, kernel, stride)


def _conv3x3_fwd(x, kernel, stride):
    return _conv_forward(x, kernel, stride), (x, kernel)


def _conv3x3_bwd(stride, residuals, dy):
    # The input gradient is a conv (stride 1) or transposed conv (stride 2) of dy with the
    # flipped kernel.
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
    """`lax.conv_transpose(x, kernel, (2, 2), ((1, 1 + op),) * 2, dimension_numbers=DN)`:
    (B, n, m, Cin), (3, 3, Cin, F) not transposed -> (B, 2n - 1 + op, 2m - 1 + op, F); op =
    output_padding, 0 or 1 (static). Without a gradient it runs conv_transpose_phases (1.2x
    faster in the VAE's log p(x)); under one, the dilated form the backward rules are tuned with.
    """
    return conv_transpose_phases(x, kernel, output_padding)


def _conv_transpose3x3_fwd(x, kernel, output_padding):
    return conv_transpose_forward(x, kernel, output_padding), (x, kernel)


def _conv_transpose3x3_bwd(output_padding, residuals, dy):
    # conv_transpose(., K) is the input-gradient of conv(., _flip_io(K), stride 2),
    # so its own input-gradient is that stride-2 conv, and its kernel gradient is
    # the kernel gradient of that conv (input dy, output gradient x), flipped back.
    x, kernel = residuals
    dx = conv3x3(dy, _flip_io(kernel), 2)
    dk = _flip_io(_kernel_grad(dy, x, 2))
    return dx, dk


conv_transpose3x3.defvjp(_conv_transpose3x3_fwd, _conv_transpose3x3_bwd)
