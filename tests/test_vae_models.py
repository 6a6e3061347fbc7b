"""The VAE's networks: parameter count, shapes, and the values of a zero-parameter model."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import init_vae

from vae import models


@pytest.fixture(scope="module")
def vae_and_params():
    return init_vae(num_filters=32, z_dim=20)


def test_parameter_count_matches_the_pytorch_reference(vae_and_params):
    _, params = vae_and_params
    assert sum(p.size for p in jax.tree.leaves(params)) == 270_616


def test_zero_parameters_give_uniform_decoder_and_zero_kl(vae_and_params, key):
    model, params = vae_and_params
    zeros = jax.tree.map(jnp.zeros_like, params)
    x = jax.random.randint(key, (4, 28, 28, 1), 0, 16)
    l_rec, l_reg, bpd = jax.jit(model.apply)({"params": zeros}, x, key)
    assert float(l_rec) == pytest.approx(-784 * math.log(1 / 16), rel=1e-5)
    assert float(l_reg) == 0.0
    assert float(bpd) == pytest.approx(4.0, abs=1e-4)


def test_shapes_and_signs_at_init(vae_and_params, key):
    model, params = vae_and_params
    x = jax.random.randint(key, (3, 28, 28, 1), 0, 16)

    @jax.jit
    def outputs(params, x, key):
        variables = {"params": params}
        mean, log_std = model.apply(variables, x, method=models.VAE.encode)
        logits = model.apply(variables, mean, method=models.VAE.decode)
        return mean, log_std, logits, model.apply(variables, key, 5, method=models.VAE.sample)

    mean, log_std, logits, (draws, means) = outputs(params, x, key)
    assert mean.shape == log_std.shape == (3, 20)
    assert np.any(mean > 0) and np.any(mean < 0)
    assert np.any(log_std > 0) and np.any(log_std < 0)
    assert logits.shape == (3, 28, 28, 16)
    assert np.any(logits < 0)
    assert draws.shape == means.shape == (5, 28, 28, 1)
    assert draws.dtype == jnp.int32 and 0 <= int(draws.min()) and int(draws.max()) <= 15


def test_pixel_means_are_the_categoricals_expectations():
    logits = jnp.full((1, 1, 1, 16), -1e9).at[0, 0, 0, 7].set(0.0)  # all mass on value 7
    assert float(models.pixel_means(logits)[0, 0, 0, 0]) == pytest.approx(7.0)
    uniform = models.pixel_means(jnp.zeros((2, 3, 3, 16)))
    np.testing.assert_allclose(uniform, 7.5, rtol=1e-6)  # the mean of 0..15
    assert uniform.shape == (2, 3, 3, 1)
