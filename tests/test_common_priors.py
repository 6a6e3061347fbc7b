"""The AAE's priors (common/priors.py): samplers, label-guided draws, regions, config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import latents, priors
from common.errors import ConfigError

N = 20_000


def test_gaussian_is_the_draws_the_aae_made_before():
    key = jax.random.key(3)
    z = priors.Gaussian(8).sample(key, 5)
    assert z.shape == (5, 8) and z.dtype == jnp.float32
    np.testing.assert_array_equal(z, jax.random.normal(key, (5, 8)))


def test_mixture_moments_and_component_means():
    prior = priors.Mixture(num_components=10, radius=2.0, radial_std=0.5, tangential_std=0.1)
    z = np.asarray(prior.sample(jax.random.key(0), N))
    assert z.shape == (N, 2) and z.dtype == np.float32
    # Mean 0, covariance (r^2 + s_r^2 + s_t^2) / 2 I for K >= 3 evenly spaced components.
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.04)
    expected = (2.0**2 + 0.5**2 + 0.1**2) / 2
    np.testing.assert_allclose(np.cov(z.T), expected * np.eye(2), atol=0.06)
    # The component means lie on the circle at angles 2 pi k / 10.
    means = np.asarray(prior.means())
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 2.0, rtol=1e-6)
    angle = 2 * np.pi * 3 / 10
    np.testing.assert_allclose(means[3], 2.0 * np.array([np.cos(angle), np.sin(angle)]), rtol=1e-6)
    # Each component is drawn about as often; its draws spread 0.5 along the radius, 0.1 across.
    labels = jnp.full((N,), 3)
    one = np.asarray(prior.sample_for_labels(jax.random.key(1), labels))
    np.testing.assert_allclose(one.mean(0), means[3], atol=0.02)
    direction = means[3] / 2.0
    along, across = one @ direction, one @ np.array([-direction[1], direction[0]])
    np.testing.assert_allclose([along.std(), across.std()], [0.5, 0.1], rtol=0.05)
    counts = np.bincount(np.asarray(prior.region(jnp.asarray(z))), minlength=10)
    np.testing.assert_allclose(counts / N, 0.1, atol=0.015)


def test_swiss_roll_radius_grows_along_it():
    prior = priors.SwissRoll(roll_radius=3.0, roll_turns=2.0)
    z = np.asarray(prior.sample(jax.random.key(0), N))
    assert z.shape == (N, 2)
    assert np.linalg.norm(z, axis=1).max() <= 3.0 + 1e-5
    radii = []
    for k in range(priors.NUM_LABELS):
        draws = np.asarray(prior.sample_for_labels(jax.random.key(k), jnp.full((500,), k)))
        r = np.linalg.norm(draws, axis=1)
        # Stretch k spans u in [k/10, (k+1)/10]: radius 3 sqrt(u).
        assert r.min() >= 3.0 * np.sqrt(k / 10) - 1e-5 and r.max() <= 3.0 * np.sqrt((k + 1) / 10)
        radii.append(r.mean())
    assert np.all(np.diff(radii) > 0)
    # The whole roll: u uniform, so E[r] = 3 E[sqrt(u)] = 2.
    np.testing.assert_allclose(np.linalg.norm(z, axis=1).mean(), 2.0, atol=0.02)


@pytest.mark.parametrize("prior", [priors.Mixture(), priors.SwissRoll()], ids=lambda p: p.name)
def test_label_k_draws_land_in_region_k_and_no_label_anywhere(prior):
    labels = jnp.repeat(jnp.arange(priors.NUM_LABELS), 1000)
    z = prior.sample_for_labels(jax.random.key(0), labels)
    assert z.shape == (len(labels), 2)
    own = float(latents.own_region_share(prior, z, labels))
    # The mixture's components overlap a little at radius 2 (their means 1.24 apart, spread 0.1
    # across but 0.5 along); the roll's stretches only at their ends (its region is measured on
    # ROLL_POINTS points).
    assert own > (0.97 if prior.name == "mixture" else 0.995)
    anywhere = prior.sample_for_labels(jax.random.key(1), jnp.full((5000,), priors.NO_LABEL))
    counts = np.bincount(np.asarray(prior.region(anywhere)), minlength=priors.NUM_LABELS)
    np.testing.assert_allclose(counts / 5000, 0.1, atol=0.015)
    assert abs(float(latents.own_region_share(prior, z, jnp.roll(labels, 1000))) - 0.0) < 0.05


@pytest.mark.parametrize("prior", [priors.Mixture(), priors.SwissRoll()], ids=lambda p: p.name)
def test_mmd_of_a_prior_against_itself_and_against_n01(prior):
    a = prior.sample(jax.random.key(0), 1000)
    b = prior.sample(jax.random.key(1), 1000)
    gauss = priors.Gaussian(2).sample(jax.random.key(2), 1000)
    same, other = float(latents.mmd2(a, b)), float(latents.mmd2(a, gauss))
    assert abs(same) < 0.005  # the estimate's noise at 1,000 draws each
    assert other > 0.03 and other > 10 * abs(same)


def test_code_statistics_keep_the_moments_for_the_gaussian_only():
    z = jax.random.normal(jax.random.key(0), (500, 2))
    assert set(latents.code_statistics(z, z)) == {"code_mmd", "code_mean_norm", "code_cov_dist"}
    assert set(latents.code_statistics(z, z, moments=False)) == {"code_mmd"}


def _config(**fields):
    config = priors.prior_config()
    config.update(fields)
    return config


def test_from_config_builds_each_prior():
    assert priors.from_config(_config(), 8) == priors.Gaussian(8)
    mixture = priors.from_config(_config(name="mixture", radius=3.0, num_components=6), 2)
    assert mixture == priors.Mixture(6, 3.0, 0.5, 0.1)
    roll = priors.from_config(_config(name="swiss_roll", labels=True, roll_turns=1.5), 2)
    assert roll == priors.SwissRoll(3.0, 1.5)


@pytest.mark.parametrize(
    "fields, z_dim, message",
    [
        (dict(name="laplace"), 2, "config.prior.name='laplace' must be one of gaussian, mixture"),
        (dict(name="mixture"), 8, "is a 2-D prior, but config.z_dim=8"),
        (dict(name="swiss_roll"), 20, "is a 2-D prior, but config.z_dim=20"),
        (dict(labels=True), 2, "config.prior.labels=True needs a prior with a region per label"),
        (
            dict(name="mixture", labels=True, num_components=8),
            2,
            "needs one component per label: config.prior.num_components=10",
        ),
    ],
)
def test_from_config_refuses_in_one_line(fields, z_dim, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as error:
        priors.from_config(_config(**fields), z_dim)
    assert "\n" not in str(error.value)
