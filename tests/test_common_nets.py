"""The matmul forms of the convolutions equal flax's nn.Conv / nn.ConvTranspose, with gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import nets

# The reference convolutions and our matmuls must both run in full float32 for a 1e-5 check.
jax.config.update("jax_default_matmul_precision", "highest")

# Every spatial configuration of the two models (channels scaled down: they do not change the
# code path, and small ones keep the test fast).
CONVS = [(2, 28, 1, 8), (1, 14, 8, 8), (2, 14, 8, 16), (1, 7, 16, 16), (2, 7, 16, 16)]
TRANSPOSED = [(0, 4, 16, 16), (1, 7, 16, 8), (1, 14, 8, 16), (1, 14, 8, 1)]


def rel_err(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))


def _outputs_and_grads(module, params, x, probe):
    def loss(p, x):
        return jnp.sum(module.apply(p, x) * probe)

    return module.apply(params, x), jax.grad(loss, argnums=(0, 1))(params, x)


# Arguments, not closed-over constants, and one jit per module: eager execution compiles each
# small op on its own and takes seconds.
outputs_and_grads = jax.jit(_outputs_and_grads, static_argnums=0)


def check(reference, ours, x, key):
    """The same parameter tree; outputs and gradients within 1e-5 for random parameters."""
    shapes = jax.eval_shape(reference.init, key, x)
    ours_shapes = jax.eval_shape(ours.init, key, x)
    assert jax.tree.map(jnp.shape, ours_shapes) == jax.tree.map(jnp.shape, shapes)
    leaves, treedef = jax.tree.flatten(shapes)
    rng = np.random.default_rng(0)  # numpy: XLA:CPU compiles 4-d jax.random draws slowly
    params = jax.tree.unflatten(
        treedef, [rng.standard_normal(p.shape).astype(np.float32) for p in leaves]
    )
    probe = rng.standard_normal(jax.eval_shape(reference.apply, params, x).shape)
    y_ref, g_ref = outputs_and_grads(reference, params, x, probe.astype(np.float32))
    y, g = outputs_and_grads(ours, params, x, probe.astype(np.float32))
    assert y.shape == y_ref.shape
    assert rel_err(y_ref, y) < 1e-5
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g), strict=True):
        assert rel_err(a, b) < 1e-5


@pytest.mark.parametrize("stride, size, c, f", CONVS)
def test_conv_matches_flax(stride, size, c, f, key):
    x = np.random.default_rng(1).standard_normal((3, size, size, c)).astype(np.float32)
    reference = nn.Conv(f, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)))
    check(reference, nets.Conv(f, stride, impl="matmul"), x, key)


@pytest.mark.parametrize("op, size, c, f", TRANSPOSED)
def test_conv_transpose_matches_flax(op, size, c, f, key):
    x = np.random.default_rng(1).standard_normal((3, size, size, c)).astype(np.float32)
    pad = (1, 1 + op)
    reference = nn.ConvTranspose(f, (3, 3), strides=(2, 2), padding=(pad, pad))
    check(reference, nets.ConvTranspose(f, op, impl="matmul"), x, key)


def test_xla_impl_matches_flax_too(key):
    x = np.random.default_rng(1).standard_normal((2, 7, 7, 4)).astype(np.float32)
    reference = nn.Conv(4, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    check(reference, nets.Conv(4, 2, impl="xla"), x, key)
    reference = nn.ConvTranspose(4, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)))
    check(reference, nets.ConvTranspose(4, 1, impl="xla"), x, key)


def test_same_initialisers_as_flax(key):
    x = jnp.zeros((1, 7, 7, 3))
    pairs = (
        (nn.Conv(4, (3, 3), padding=((1, 1), (1, 1))), nets.Conv(4)),
        (nn.ConvTranspose(4, (3, 3), (2, 2), padding=((1, 2), (1, 2))), nets.ConvTranspose(4, 1)),
    )
    for reference, ours in pairs:
        expected, got = reference.init(key, x), ours.init(key, x)
        for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
            np.testing.assert_array_equal(a, b)


def test_unknown_impl_is_an_error(key):
    with pytest.raises(ValueError, match="conv impl 'cudnn'"):
        nets.Conv(4, impl="cudnn").init(key, jnp.zeros((1, 7, 7, 1)))
