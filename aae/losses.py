"""The AAE's objectives (assignment Eq. 15-18) as pure functions on discriminator logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from common.shapes import TanhImages


def generator_loss(d_logits_fake: jax.Array) -> jax.Array:
    """The encoder's adversarial loss: binary cross-entropy of its codes' logits [B, 1] against
    "real", -log D(E(x)): the non-saturating form of Eq. 15's min_E log(1 - D(E(x))), which
    has the same fixed point and does not vanish while D is sure the codes are fake."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(d_logits_fake, 1.0))


def autoencoder_loss(
    x: TanhImages, recon_x: TanhImages, d_logits_fake: jax.Array, lambda_: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """lambda_ * recon_loss + (1 - lambda_) * gen_loss (of the codes' logits [B, 1]; Eq. 15):
    (ae_loss, {"recon_loss", "gen_loss", "ae_loss"}). recon_loss is Eq. 18's squared error
    averaged over the pixels (Eq. 18 / 784, as the course's MSELoss and its "below 0.05"), so
    lambda_ weighs a per-pixel error against the per-image cross-entropy."""
    recon_loss = jnp.mean((x - recon_x) ** 2)
    gen_loss = generator_loss(d_logits_fake)
    ae_loss = lambda_ * recon_loss + (1.0 - lambda_) * gen_loss
    return ae_loss, {"recon_loss": recon_loss, "gen_loss": gen_loss, "ae_loss": ae_loss}


def discriminator_loss(
    d_logits_real: jax.Array, d_logits_fake: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Cross-entropy of prior draws' logits ("real") plus the codes' ("fake"), [B, 1] each:
    (disc_loss, {"disc_loss", "loss_real", "loss_fake", "accuracy"}), accuracy the share of the
    2B on the right side of logit 0."""
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
