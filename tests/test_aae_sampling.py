"""AAE pictures: decoded prior samples."""

import jax
import jax.numpy as jnp
import numpy as np

from aae import models, sampling


def test_sample_images_decode_prior_draws():
    model = models.AdversarialAE(
        num_filters=4, z_dim=2, disc_hidden=8, stochastic=False, conv_impl="auto"
    )
    params = model.init(
        jax.random.key(0), jnp.zeros((1, 28, 28, 1)), method=models.AdversarialAE.initialize
    )["params"]
    x = sampling.sample_images(model, params, jax.random.key(1), 5)
    assert x.shape == (5, 28, 28, 1) and -1 <= float(x.min()) <= float(x.max()) <= 1
    z = jax.random.normal(jax.random.key(1), (5, 2))
    expected = model.apply({"params": params}, z, method=models.AdversarialAE.decode)
    np.testing.assert_allclose(x, expected, rtol=1e-6)
