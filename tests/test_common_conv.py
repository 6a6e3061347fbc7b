"""common.nets' Conv / ConvTranspose (both impls; "cpu" runs common.conv) equal flax's layers.

Compared for every layer configuration of the VAE / AAE: parameters (tree,
shapes, init), outputs, and gradients w.r.t. input, kernel and bias.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import nets

# Float32 matmuls/convs at full precision: on CPU that is already the default,
# but on GPU/TPU the default may use TF32/bfloat16 passes, whose ~1e-3 error
# would hide real differences behind the 1e-5 tolerance.
jax.config.update("jax_default_matmul_precision", "highest")

RTOL = 1e-5
BATCH = 4

# (input size, in channels, out channels, stride) of every nets.Conv in the models.
CONV_CONFIGS = [
    (28, 1, 32, 2),  # encoder 28 -> 14
    (14, 32, 32, 1),  # encoder 14x14 and decoder 14x14
    (14, 32, 64, 2),  # encoder 14 -> 7
    (7, 64, 64, 1),  # encoder 7x7 and decoder 7x7
    (7, 64, 64, 2),  # encoder 7 -> 4
]
# (input size, in channels, out channels, output_padding) of every nets.ConvTranspose.
CONV_T_CONFIGS = [
    (4, 64, 64, 0),  # decoder 4 -> 7
    (7, 64, 32, 1),  # decoder 7 -> 14
    (14, 32, 16, 1),  # decoder 14 -> 28, VAE (16 logits)
    (14, 32, 1, 1),  # decoder 14 -> 28, AAE (1 channel)
]
IMPLS = ["xla", "cpu", "auto"]  # "auto" is "cpu" on CPU: compiled once, cheap


def flax_conv(features, stride):
    return nn.Conv(features, (3, 3), (stride, stride), padding=((1, 1), (1, 1)))


def flax_conv_t(features, output_padding):
    pad = (1, 1 + output_padding)
    return nn.ConvTranspose(features, (3, 3), (2, 2), padding=(pad, pad))


def rel_err(a, b):
    """Largest absolute difference, relative to the largest magnitude of b."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)


def param_shapes(module, x):
    """The parameter tree of `module` as ShapeDtypeStructs (nothing is run or compiled)."""
    return jax.eval_shape(module.init, jax.random.PRNGKey(0), x)


def output_and_grads(module, params, x, cotangent):
    """Output, and gradients w.r.t. params and x of sum(output * cotangent)."""

    def loss(p, x):
        y = module.apply(p, x)
        return jnp.sum(y * cotangent), y

    (_, y), (g_params, g_x) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(params, x)
    return y, g_params, g_x


def assert_same_as_flax(make_ours, reference, size, in_channels, features):
    """Asserts our layer (for every impl) has flax's params and gives its output and gradients.

    Random numbers come from numpy: each new shape drawn with jax.random costs a
    1-3 s compile on this CPU, too slow for 9 configurations.
    """
    rng = np.random.default_rng(size * 1000 + in_channels * 10 + features)
    x = rng.standard_normal((BATCH, size, size, in_channels), np.float32)
    shapes = param_shapes(reference, x)
    # Random bias too (flax inits it to zero), so its gradient path is exercised.
    params = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), shapes)
    y_shape = jax.eval_shape(reference.apply, params, x).shape
    cotangent = rng.standard_normal(y_shape, np.float32)
    y_ref, g_params_ref, g_x_ref = output_and_grads(reference, params, x, cotangent)

    for impl in IMPLS:
        ours = make_ours(impl)
        assert param_shapes(ours, x) == shapes
        y, g_params, g_x = output_and_grads(ours, params, x, cotangent)
        assert y.shape == y_ref.shape
        assert rel_err(y, y_ref) < RTOL, impl
        assert rel_err(g_x, g_x_ref) < RTOL, impl
        for name in ("kernel", "bias"):
            err = rel_err(g_params["params"][name], g_params_ref["params"][name])
            assert err < RTOL, (impl, name)


@pytest.mark.parametrize("size,in_channels,features,stride", CONV_CONFIGS)
def test_conv3x3_matches_flax(size, in_channels, features, stride):
    make = lambda impl: nets.Conv(features, stride, impl)  # noqa: E731
    assert_same_as_flax(make, flax_conv(features, stride), size, in_channels, features)


@pytest.mark.parametrize("size,in_channels,features,output_padding", CONV_T_CONFIGS)
def test_conv_transpose3x3_matches_flax(size, in_channels, features, output_padding):
    make = lambda impl: nets.ConvTranspose(features, output_padding, impl)  # noqa: E731
    reference = flax_conv_t(features, output_padding)
    assert_same_as_flax(make, reference, size, in_channels, features)


@pytest.mark.parametrize(
    "ours,reference",
    [
        (nets.Conv(32, 2), flax_conv(32, 2)),
        (nets.ConvTranspose(32, 1), flax_conv_t(32, 1)),
    ],
)
def test_init_matches_flax(ours, reference):
    """Same parameter tree, shapes, count and values from the same key."""
    x = jnp.zeros((1, 14, 14, 64))
    key = jax.random.PRNGKey(42)
    ref_init, our_init = reference.init(key, x), ours.init(key, x)
    assert jax.tree_util.tree_structure(our_init) == jax.tree_util.tree_structure(ref_init)
    assert list(our_init["params"]) == ["kernel", "bias"]
    assert our_init["params"]["kernel"].shape == (3, 3, 64, 32)
    assert sum(leaf.size for leaf in jax.tree_util.tree_leaves(our_init)) == 9 * 64 * 32 + 32
    jax.tree.map(np.testing.assert_array_equal, our_init, ref_init)


def test_output_shapes():
    x = jnp.zeros((2, 4, 4, 3))
    for impl in ("xla", "cpu"):
        out = lambda m: jax.eval_shape(m.init_with_output, jax.random.PRNGKey(0), x)[0].shape  # noqa: E731
        assert out(nets.ConvTranspose(5, 0, impl)) == (2, 7, 7, 5)
        assert out(nets.ConvTranspose(5, 1, impl)) == (2, 8, 8, 5)
        assert out(nets.Conv(5, 2, impl)) == (2, 2, 2, 5)
        assert out(nets.Conv(5, 1, impl)) == (2, 4, 4, 5)


class _Stack(nn.Module):
    """Transposed conv 7 -> 14, ReLU, stride-2 conv 14 -> 7."""

    impl: str

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nets.ConvTranspose(8, 1, self.impl)(x))
        return nets.Conv(4, 2, self.impl)(x)


def _stack_grads(impl, params, x, in_scan):
    """Gradients of a scalar loss of `_Stack`, jitted, optionally inside a 2-step lax.scan."""
    loss = lambda p: jnp.sum(jnp.sin(_Stack(impl).apply(p, x)))  # noqa: E731
    if not in_scan:
        return jax.jit(jax.grad(loss))(params)

    def epoch(p):
        def body(g, _):
            return jax.tree.map(lambda a, b: a + 0.5 * b, g, jax.grad(loss)(p)), None

        return jax.lax.scan(body, jax.tree.map(jnp.zeros_like, p), None, length=2)[0]

    return jax.jit(epoch)(params)


@pytest.mark.parametrize("in_scan", [False, True])
def test_stacked_layers_gradients_agree(in_scan):
    """Two stacked layers, jitted (and in a lax.scan): the custom backward passes chain."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 7, 7, 8), np.float32)
    shapes = param_shapes(_Stack("xla"), x)
    params = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), shapes)
    g_xla = _stack_grads("xla", params, x, in_scan)
    g_cpu = _stack_grads("cpu", params, x, in_scan)
    errors = jax.tree.map(rel_err, g_cpu, g_xla)
    assert max(jax.tree_util.tree_leaves(errors)) < RTOL, errors


def test_auto_resolves_by_backend():
    assert nets._resolve("auto") == ("cpu" if jax.default_backend() == "cpu" else "xla")
    assert nets._resolve("xla") == "xla"
    with pytest.raises(ValueError, match="conv impl 'cudnn'"):
        nets._resolve("cudnn")


def test_bad_arguments_raise():
    x = jnp.zeros((1, 4, 4, 8))
    init = lambda m, x: jax.eval_shape(m.init, jax.random.PRNGKey(0), x)  # noqa: E731
    with pytest.raises(ValueError):
        init(nets.Conv(4, 3), x)
    with pytest.raises(ValueError):
        init(nets.ConvTranspose(4, 2), x)
    with pytest.raises(ValueError):
        init(nets.Conv(4), x[0])  # no batch axis
    with pytest.raises(ValueError):
        init(nets.Conv(4, 2, "cpu"), jnp.zeros((1, 4, 5, 8)))


def test_whole_vae_same_loss_and_gradients_for_both_impls():
    """The VAE's loss and every parameter gradient agree between the "cpu" and "xla" forms."""
    from vae import models

    images = np.random.default_rng(3).integers(0, 16, (BATCH, 28, 28, 1)).astype(np.int32)
    key = jax.random.key(0)

    def loss_and_grads(impl, params):
        model = models.VAE(num_filters=4, z_dim=2, conv_impl=impl)
        return jax.jit(jax.value_and_grad(lambda p: model.apply(p, images, key)[2]))(params)

    shapes = jax.eval_shape(
        models.VAE(num_filters=4, z_dim=2, conv_impl="xla").init, key, images, key
    )
    rng = np.random.default_rng(4)
    params = jax.tree.map(lambda s: 0.3 * rng.standard_normal(s.shape, np.float32), shapes)
    (loss_xla, g_xla), (loss_cpu, g_cpu) = (loss_and_grads(i, params) for i in ("xla", "cpu"))
    assert abs(float(loss_cpu) - float(loss_xla)) < RTOL * abs(float(loss_xla))
    errors = jax.tree.map(rel_err, g_cpu, g_xla)
    assert max(jax.tree_util.tree_leaves(errors)) < RTOL, errors
