"""AAE pictures: decoded prior samples."""

import jax
import jax.numpy as jnp
import numpy as np

from aae import models, sampling


def test_sample_images_decode_prior_draws():
    model = models.AdversarialAE(num_filters=4, z_dim=2, disc_hidden=8)
    x0 = jnp.zeros((1, 28, 28, 1))
    params = jax.jit(lambda k: model.init(k, x0, method=models.AdversarialAE.initialize))(
        jax.random.key(0)
    )["params"]
    x = jax.jit(sampling.sample_images, static_argnums=(0, 3))(model, params, jax.random.key(1), 5)
    assert x.shape == (5, 28, 28, 1) and -1 <= float(x.min()) <= float(x.max()) <= 1
    z = jax.random.normal(jax.random.key(1), (5, 2))
    expected = jax.jit(model.apply, static_argnames="method")(
        {"params": params}, z, method=models.AdversarialAE.decode
    )
    np.testing.assert_allclose(x, expected, rtol=1e-6)
