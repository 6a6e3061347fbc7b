"""AAE pictures: decoded prior samples."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import initial_state

from aae import models, sampling, train
from common import priors
from common.train import run_files


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


def test_samples_decode_the_models_own_prior_and_the_grid_has_a_row_per_region(tiny_aae_config):
    prior = priors.Mixture()
    model = models.AdversarialAE(num_filters=4, z_dim=2, disc_hidden=8, prior=prior)
    x0 = jnp.zeros((1, 28, 28, 1))
    init = jax.jit(lambda k: model.init(k, x0, method=models.AdversarialAE.initialize))
    params = init(jax.random.key(0))["params"]
    decode = jax.jit(model.apply, static_argnames="method")
    key = jax.random.key(1)
    x = jax.jit(model.apply, static_argnums=2, static_argnames="method")(
        {"params": params}, key, 6, method=models.AdversarialAE.sample
    )
    z = prior.sample(key, 6)
    expected = decode({"params": params}, z, method=models.AdversarialAE.decode)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)  # two programs, one function

    tiny_aae_config.prior = priors.prior_config("swiss_roll", labels=True)
    trainer = train.AAETrainer(tiny_aae_config)
    state = initial_state(trainer)
    grids = jax.jit(trainer.sample_grids, static_argnums=2)(state.params, key, 4)
    by_region = grids["samples" + run_files.BY_REGION]
    assert grids["samples"].shape == (4, 28, 28, 1)
    assert by_region.shape == (priors.NUM_LABELS * train.SAMPLES_PER_REGION, 28, 28, 1)
    # Row k decodes draws of the roll's stretch k: their codes' regions are k.
    regions = jnp.repeat(jnp.arange(priors.NUM_LABELS), train.SAMPLES_PER_REGION)
    codes = trainer.prior.sample_for_labels(jax.random.fold_in(key, 1), regions)
    np.testing.assert_array_equal(trainer.prior.region(codes), regions)
    expected = (decode({"params": state.params}, codes, method=models.AdversarialAE.decode) + 1) / 2
    np.testing.assert_allclose(by_region, expected, rtol=1e-5, atol=1e-6)
