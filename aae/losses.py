"""The AAE's objectives (assignment Eq. 15-18) as pure functions on discriminator logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def generator_loss(d_logits_fake: jax.Array) -> jax.Array:
    """Binary cross-entropy of the codes' logits [B, 1] against "real": the encoder's adversarial
    objective (the codes should look like prior samples). float32 scalar."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(d_logits_fake, 1.0))


def autoencoder_loss(
    x: jax.Array, recon_x: jax.Array, d_logits_fake: jax.Array, lambda_: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The encoder + decoder's loss: lambda_ * reconstruction + (1 - lambda_) * generator.

    Args:
      x, recon_x: [B, 28, 28, 1] float in [-1, 1].
      d_logits_fake: [B, 1] float, discriminator logits of the encoded z.
      lambda_: weight of the reconstruction term, in [0, 1].

    Returns:
      (ae_loss, {"recon_loss", "gen_loss", "ae_loss"}); recon_loss is the mean squared error
      per pixel (Eq. 18), gen_loss the binary cross-entropy of the fake logits against "real".
    """
    recon_loss = jnp.mean((x - recon_x) ** 2)
    gen_loss = generator_loss(d_logits_fake)
    ae_loss = lambda_ * recon_loss + (1.0 - lambda_) * gen_loss
    return ae_loss, {"recon_loss": recon_loss, "gen_loss": gen_loss, "ae_loss": ae_loss}


def discriminator_loss(
    d_logits_real: jax.Array, d_logits_fake: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Binary cross-entropy of prior samples ("real") and encoded codes ("fake"), summed.

    Args:
      d_logits_real: [B, 1] float, logits of z ~ N(0, I).
      d_logits_fake: [B, 1] float, logits of encoded z.

    Returns:
      (disc_loss, {"disc_loss", "loss_real", "loss_fake", "accuracy"}); accuracy is the
      fraction of the 2B codes on the right side of logit 0.
    """
    loss_real = jnp.mean(optax.sigmoid_binary_cross_entropy(d_logits_real, 1.0))
    loss_fake = jnp.mean(optax.sigmoid_binary_cross_entropy(d_logits_fake, 0.0))
    disc_loss = loss_real + loss_fake
    accuracy = 0.5 * (jnp.mean(d_logits_real > 0) + jnp.mean(d_logits_fake < 0))
    return disc_loss, {
        "disc_loss": disc_loss,
        "loss_real": loss_real,
        "loss_fake": loss_fake,
        "accuracy": accuracy,
    }
