"""The VAE's formulas, with numbers (assignment section 1.4-1.6)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae import losses, models


def test_kld_identities():
    zeros = jnp.zeros((1, 1))
    assert float(losses.kld(zeros, zeros)[0]) == 0.0
    assert float(losses.kld(zeros + 2.0, zeros)[0]) == pytest.approx(2.0, abs=1e-6)
    # 0.5 * (e^2 + 0 - 1 - 2) = 2.194528
    assert float(losses.kld(zeros, zeros + 1.0)[0]) == pytest.approx(2.194528, abs=1e-5)


def test_kld_symmetric_in_mean_and_sums_over_dims(key):
    mean = jax.random.normal(key, (5, 7))
    log_std = jax.random.normal(jax.random.fold_in(key, 1), (5, 7))
    np.testing.assert_allclose(losses.kld(mean, log_std), losses.kld(-mean, log_std), rtol=1e-6)
    per_dim = sum(losses.kld(mean[:, d : d + 1], log_std[:, d : d + 1]) for d in range(7))
    np.testing.assert_allclose(losses.kld(mean, log_std), per_dim, rtol=1e-5)
    assert losses.kld(mean, log_std).shape == (5,)


def test_reparameterize_statistics_and_gradients(key):
    mean, std = jnp.full((20_000,), 1.5), jnp.full((20_000,), 0.7)
    z = losses.sample_reparameterize(key, mean, std)
    assert abs(float(jnp.mean(z)) - 1.5) < 0.1
    assert abs(float(jnp.std(z)) - 0.7) < 0.1
    g_mean, g_std = jax.grad(
        lambda m, s: jnp.sum(losses.sample_reparameterize(key, m, s) ** 2), argnums=(0, 1)
    )(mean[:10], std[:10])
    assert np.all(np.asarray(g_mean) != 0) and np.all(np.asarray(g_std) != 0)


@pytest.mark.parametrize("seed", range(4))
def test_bpd_of_half_probability_image_is_one(seed):
    shape = tuple(np.random.default_rng(seed).integers(1, 10, 4))
    elbo = -np.sum(np.log(np.full(shape, 0.5)), axis=(1, 2, 3))
    np.testing.assert_allclose(losses.elbo_to_bpd(jnp.asarray(elbo), shape), 1.0, rtol=1e-6)


def test_categorical_nll_uniform_logits_is_four_bits_per_pixel():
    logits = jnp.zeros((2, 28, 28, 16))
    x = jnp.arange(2 * 28 * 28).reshape(2, 28, 28, 1) % 16
    nll = losses.categorical_nll(logits, x)
    np.testing.assert_allclose(losses.elbo_to_bpd(nll, x.shape), 4.0, rtol=1e-5)


@pytest.fixture(scope="module")
def vae_and_params():
    model = models.VAE(num_filters=32, z_dim=20)
    x = jnp.zeros((1, 28, 28, 1), jnp.int32)
    return model, model.init(jax.random.key(0), x, jax.random.key(1))["params"]


def test_parameter_count_matches_the_pytorch_reference(vae_and_params):
    _, params = vae_and_params
    assert sum(p.size for p in jax.tree.leaves(params)) == 270_616


def test_zero_parameters_give_uniform_decoder_and_zero_kl(vae_and_params, key):
    model, params = vae_and_params
    zeros = jax.tree.map(jnp.zeros_like, params)
    x = jax.random.randint(key, (4, 28, 28, 1), 0, 16)
    l_rec, l_reg, bpd = model.apply({"params": zeros}, x, key)
    assert float(l_rec) == pytest.approx(-784 * math.log(1 / 16), rel=1e-5)
    assert float(l_reg) == 0.0
    assert float(bpd) == pytest.approx(4.0, abs=1e-4)


def test_shapes_and_signs_at_init(vae_and_params, key):
    model, params = vae_and_params
    x = jax.random.randint(key, (3, 28, 28, 1), 0, 16)
    mean, log_std = model.apply({"params": params}, x, method=models.VAE.encode)
    assert mean.shape == log_std.shape == (3, 20)
    assert np.any(mean > 0) and np.any(mean < 0)
    assert np.any(log_std > 0) and np.any(log_std < 0)
    logits = model.apply({"params": params}, mean, method=models.VAE.decode)
    assert logits.shape == (3, 28, 28, 16)
    assert np.any(logits < 0)
    draws, means = model.apply({"params": params}, key, 5, method=models.VAE.sample)
    assert draws.shape == means.shape == (5, 28, 28, 1)
    assert draws.dtype == jnp.int32 and 0 <= int(draws.min()) and int(draws.max()) <= 15
