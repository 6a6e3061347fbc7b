"""The VAE's formulas, with numbers (assignment section 1.4-1.6)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae import losses


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


def test_categorical_nll_takes_each_pixels_own_value(key):
    # Random logits: -sum over pixels of log softmax(logits)[x], from numpy; a wrong index
    # (x + 1, 15 - x) or the wrong axis gives another number (uniform logits would not tell).
    logits = np.asarray(jax.random.normal(key, (2, 28, 28, 16))) * 3.0
    x = np.asarray(jax.random.randint(jax.random.fold_in(key, 1), (2, 28, 28, 1), 0, 16))
    log_p = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    want = -np.take_along_axis(log_p, x, axis=-1).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(losses.categorical_nll(jnp.asarray(logits), x), want, rtol=1e-5)


def test_elbo_terms_are_the_objective_and_its_bits_per_dimension(key):
    logits = jax.random.normal(key, (3, 28, 28, 16))
    x = jax.random.randint(key, (3, 28, 28, 1), 0, 16)
    mean, log_std = jax.random.normal(key, (2, 3, 5)) * 0.5
    terms = losses.elbo_terms(logits, x, mean, log_std)
    np.testing.assert_allclose(terms.l_rec, losses.categorical_nll(logits, x), rtol=1e-6)
    np.testing.assert_allclose(terms.l_reg, losses.kld(mean, log_std), rtol=1e-6)
    bits = (np.asarray(terms.l_rec) + np.asarray(terms.l_reg)) / np.log(2) / 784
    np.testing.assert_allclose(terms.bpd, bits, rtol=1e-5)


def test_elbo_terms_is_the_one_caller_of_elbo_to_bpd():
    # README: training, evaluation and the log-likelihood's ELBO all go through elbo_terms.
    import pathlib

    root = pathlib.Path(__file__).parent.parent
    calls = [
        (path.relative_to(root).as_posix(), line.strip())
        for package in ("common", "vae", "aae", "scripts")
        for path in sorted((root / package).glob("*.py"))
        for line in path.read_text().splitlines()
        if "elbo_to_bpd(" in line and not line.lstrip().startswith("def ")
    ]
    assert calls == [
        ("vae/losses.py", "return ElboTerms(l_rec, l_reg, elbo_to_bpd(l_rec + l_reg, x.shape))")
    ]
