"""VAE pictures: the manifold's latents (Question 1.9) and the decoded grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import init_vae

from vae import models, sampling


def test_manifold_latents_are_normal_ppf_of_centred_percentiles():
    z = np.asarray(sampling.manifold_latents(20))
    assert z.shape == (400, 2)
    np.testing.assert_allclose(z[0], [-1.959964, 1.959964], atol=1e-5)  # ppf(0.025), ppf(0.975)
    np.testing.assert_allclose(z[-1], [1.959964, -1.959964], atol=1e-5)


@pytest.fixture(scope="module")
def tiny_vae():
    return init_vae(num_filters=4, z_dim=2)


def test_visualize_manifold_tiles_the_decoded_grid(tiny_vae):
    model, params = tiny_vae
    grid = sampling.visualize_manifold(model, params, 3)
    assert grid.shape == (3 * 30 + 2, 3 * 30 + 2, 1)
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    # The top-left tile is the decoded z = (ppf(1/6), ppf(5/6)): its pixel means over 15.
    z = sampling.manifold_latents(3)[:1]
    decode = jax.jit(lambda p, z: model.apply({"params": p}, z, method=models.VAE.decode))
    expected = np.asarray(models.pixel_means(decode(params, z)))[0] / 15
    np.testing.assert_allclose(grid[2:30, 2:30], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="z_dim == 2"):
        sampling.visualize_manifold(models.VAE(num_filters=4, z_dim=3, conv_impl="auto"), {}, 3)


def test_sample_images_are_draws_and_means_of_the_same_z(tiny_vae):
    model, params = tiny_vae
    sample = jax.jit(sampling.sample_images, static_argnums=(0, 3))
    draws, means = sample(model, params, jax.random.key(3), 6)
    assert draws.shape == means.shape == (6, 28, 28, 1)
    assert draws.dtype == jnp.int32 and means.dtype == jnp.float32
    # Pixel draws scatter around their categorical's mean.
    assert abs(float(jnp.mean(draws)) - float(jnp.mean(means))) < 0.5
    # The means are the decoded prior draw's (z from the key's first half, as models.VAE.sample).
    z = jax.random.normal(jax.random.split(jax.random.key(3))[0], (6, 2))
    logits = model.apply({"params": params}, z, method=models.VAE.decode)
    np.testing.assert_allclose(means, models.pixel_means(logits), rtol=1e-5, atol=1e-5)
    # Each pixel is drawn from its own categorical: logits sure of a value give that value.
    values = jax.random.randint(jax.random.key(4), (2, 28, 28), 0, 16)
    drawn, mean = models.sample_pixels(jax.random.key(5), 50.0 * jax.nn.one_hot(values, 16))
    np.testing.assert_array_equal(drawn[..., 0], values)
    np.testing.assert_allclose(mean[..., 0], values, atol=1e-4)
