"""The AAE's networks: parameter count, shapes and ranges, which networks a loss reaches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aae import losses, models


def init(model, key):
    """The parameters of all three networks, compiled once."""
    x = jnp.zeros((1, 28, 28, 1))
    return jax.jit(lambda k: model.init(k, x, method=models.AdversarialAE.initialize))(key)[
        "params"
    ]


@pytest.fixture(scope="module")
def model_and_params():
    model = models.AdversarialAE(num_filters=32, z_dim=8, disc_hidden=512)  # conv_impl: auto
    return model, init(model, jax.random.key(0))


def ae_loss(model, params, x, lambda_):
    recon_x, z = model.apply({"params": params}, x)
    d_fake = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
    return losses.autoencoder_loss(x, recon_x, d_fake, lambda_)[0]


def test_parameter_count_matches_the_pytorch_reference(model_and_params):
    _, params = model_and_params
    assert sum(p.size for p in jax.tree.leaves(params)) == 488_970


def test_shapes_and_decoder_range(model_and_params, key):
    model, params = model_and_params
    x = jax.random.uniform(key, (3, 28, 28, 1), minval=-1, maxval=1)

    @jax.jit
    def outputs(params, x, z_far):
        recon, z = model.apply({"params": params}, x)
        logits = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
        return recon, z, logits, model.apply({"params": params}, z_far, method="decode")

    recon, z, logits, far = outputs(params, x, jax.random.normal(key, (16, 8)) * 50)
    assert z.shape == (3, 8) and recon.shape == (3, 28, 28, 1)
    assert logits.shape == (3, 1)
    assert float(jnp.min(far)) >= -1.0 and float(jnp.max(far)) <= 1.0


def test_stochastic_encoder_draws_around_its_mean(key):
    model = models.AdversarialAE(num_filters=4, z_dim=3, disc_hidden=8, stochastic=True)
    x = jax.random.uniform(key, (2, 28, 28, 1), minval=-1, maxval=1)
    params = init(model, key)
    encode = jax.jit(lambda x, k: model.apply({"params": params}, x, k, method="encode"))
    mean = encode(x, None)
    draws = jax.vmap(encode, in_axes=(None, 0))(x, jax.random.split(jax.random.key(1), 200))
    assert mean.shape == (2, 3) and not np.allclose(draws[0], draws[1])
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.3)


def test_gradients_reach_the_right_networks(model_and_params, key):
    # With every parameter zero, the discriminator's zero weights block all gradient to z, so
    # the gradient checks use the random initialisation.
    model, params = model_and_params
    x = jax.random.uniform(key, (4, 28, 28, 1), minval=-1, maxval=1)
    grads = jax.jit(jax.grad(lambda p: ae_loss(model, p, x, 0.0)))(params)
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["encoder"]))
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads["decoder"]))

    def disc_loss(p):
        z = jax.random.normal(key, (4, 8))
        d = model.apply(
            {"params": p}, jnp.concatenate([z, z + 3]), method=models.AdversarialAE.discriminate
        )
        return losses.discriminator_loss(d[:4], d[4:])[0]

    grads = jax.jit(jax.grad(disc_loss))(params)
    assert all(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["discriminator"]))


def test_a_label_guided_discriminator_judges_a_code_with_its_one_hot(key):
    from common import priors

    model = models.AdversarialAE(
        num_filters=4, z_dim=2, disc_hidden=16, num_conditions=priors.NUM_CONDITIONS
    )
    params = init(model, key)
    kernel = params["discriminator"]["Dense_0"]["kernel"]
    assert kernel.shape == (2 + priors.NUM_CONDITIONS, 16)  # the code, then the one-hot
    z = jnp.ones((3, 2))
    one_hots = jax.nn.one_hot(jnp.array([0, 4, priors.NO_LABEL]), priors.NUM_CONDITIONS)
    discriminate = jax.jit(model.apply, static_argnames="method")
    logits = discriminate({"params": params}, z, one_hots, method=models.AdversarialAE.discriminate)
    assert logits.shape == (3, 1)
    assert len(np.unique(np.asarray(logits))) == 3  # the same code, three verdicts
    with pytest.raises(ValueError, match="a 2-D prior for codes of z_dim 8"):
        init(models.AdversarialAE(4, 8, 16, prior=priors.Mixture()), key)
