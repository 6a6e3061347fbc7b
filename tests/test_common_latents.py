"""How far codes are from N(0, I) (MMD, mean, covariance) and interpolation, with numbers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import latents


def test_mmd_of_hand_computed_cases():
    # Identical point sets: every kernel value is 1, the estimate is exactly 0.
    zeros = jnp.zeros((2, 2))
    assert float(latents.mmd2(zeros, zeros)) == 0.0
    # Two points at 0 against two at (3, 0): k = c / (c + 9) with c = 2 * D = 4 across the sets,
    # 1 within them, so MMD^2 = 1 + 1 - 2 * 4 / 13.
    far = jnp.array([[3.0, 0.0], [3.0, 0.0]])
    assert float(latents.mmd2(zeros, far)) == pytest.approx(2 - 8 / 13, rel=1e-6)


def test_mmd_tells_prior_samples_from_shifted_ones():
    key_a, key_b = jax.random.split(jax.random.key(0))
    a = jax.random.normal(key_a, (1000, 8))
    b = jax.random.normal(key_b, (1000, 8))
    same = float(latents.mmd2(a, b))
    shifted = float(latents.mmd2(a + 1.0, b))
    assert abs(same) < 2e-3 and shifted > 50 * abs(same)


def test_code_statistics_of_the_prior_and_of_a_collapsed_encoder():
    key_a, key_b = jax.random.split(jax.random.key(1))
    prior = jax.random.normal(key_b, (2000, 4))
    stats = latents.code_statistics(jax.random.normal(key_a, (2000, 4)), prior)
    assert float(stats["code_mean_norm"]) < 0.1 and float(stats["code_cov_dist"]) < 0.1
    # Every image at one code: the mean is that code, the covariance 0 (distance exactly 1).
    point = jnp.tile(jnp.array([[3.0, 4.0, 0.0, 0.0]]), (2000, 1))
    stats = latents.code_statistics(point, prior)
    assert float(stats["code_mean_norm"]) == pytest.approx(5.0)
    assert float(stats["code_cov_dist"]) == pytest.approx(1.0)
    assert float(stats["code_mmd"]) > 0.5
    # Codes spread twice as wide: cov = 4 I, distance |3 I| / sqrt(4) = 3.
    wide = latents.code_statistics(2.0 * jax.random.normal(key_a, (5000, 4)), prior)
    assert float(wide["code_cov_dist"]) == pytest.approx(3.0, rel=0.05)


def test_interpolation_runs_from_one_code_to_the_other():
    z_from = jnp.array([[0.0, 2.0], [1.0, 1.0]])
    z_to = jnp.array([[4.0, -2.0], [1.0, 1.0]])
    path = latents.interpolate(z_from, z_to, 5)
    assert path.shape == (2, 5, 2)
    np.testing.assert_allclose(path[:, 0], z_from)
    np.testing.assert_allclose(path[:, -1], z_to)
    np.testing.assert_allclose(path[0, 2], [2.0, 0.0])  # the midpoint
    np.testing.assert_allclose(path[1], np.ones((5, 2)))
    assert float(jnp.linalg.norm(path[0, 1] - path[0, 0])) == pytest.approx(math.sqrt(2))
