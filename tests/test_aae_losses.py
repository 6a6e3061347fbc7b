"""The AAE's objectives (Eq. 15-18) with numbers."""

import math

import jax.numpy as jnp
import pytest

from aae import losses

LOG2 = -math.log(0.5)


def test_autoencoder_loss_mixes_mse_and_generator_bce_by_lambda():
    x = jnp.zeros((2, 28, 28, 1))
    recon = jnp.full((2, 28, 28, 1), 0.5)
    d_fake = jnp.zeros((2, 1))  # D says 1/2: the generator's cross-entropy is log 2
    for lambda_ in (0.0, 0.3, 1.0):
        loss, aux = losses.autoencoder_loss(x, recon, d_fake, lambda_)
        assert float(aux["recon_loss"]) == pytest.approx(0.25)
        assert float(aux["gen_loss"]) == pytest.approx(LOG2, abs=1e-6)
        assert float(loss) == pytest.approx(lambda_ * 0.25 + (1 - lambda_) * LOG2, abs=1e-6)


def test_discriminator_loss_at_even_odds_and_its_accuracy():
    d = jnp.zeros((4, 1))
    disc_loss, aux = losses.discriminator_loss(d, d)
    assert float(aux["loss_real"]) == pytest.approx(LOG2, abs=1e-6)
    assert float(disc_loss) == pytest.approx(2 * LOG2, abs=1e-6)
    real, fake = jnp.array([[1.0], [-1.0]]), jnp.array([[-2.0], [-3.0]])
    assert float(losses.discriminator_loss(real, fake)[1]["accuracy"]) == 0.75
    # A confident, right discriminator has a small loss; log(1 + e^-10) per term.
    sure, _ = losses.discriminator_loss(jnp.full((3, 1), 10.0), jnp.full((3, 1), -10.0))
    assert float(sure) == pytest.approx(2 * math.log1p(math.exp(-10)), rel=1e-4)


def test_the_generator_loss_rewards_codes_the_discriminator_calls_real():
    # -log D(E(x)) (the non-saturating form of Eq. 15): small where D says "real" (logit 3),
    # large where it says "fake" (logit -3); logit 0 alone cannot tell the target's side.
    assert float(losses.generator_loss(jnp.full((2, 1), 3.0))) == pytest.approx(
        math.log1p(math.exp(-3.0)), rel=1e-5
    )
    assert float(losses.generator_loss(jnp.full((2, 1), -3.0))) == pytest.approx(
        math.log1p(math.exp(3.0)), rel=1e-5
    )
