"""The semi-supervised AAE's per-image objectives and scores (errors in percent, as the paper's
tables); its adversarial terms are aae/losses.py's, applied to z and to y.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def reconstruction_error(x: jax.Array, recon_x: jax.Array) -> jax.Array:
    """x, recon_x: [B, 28, 28, 1] float in [-1, 1] -> [B] float32, mean squared error per pixel."""
    return jnp.mean((x - recon_x) ** 2, axis=(1, 2, 3))


def classification_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy of q(y|x) against the labels: logits [B, K] float, labels int [B] in
    0..K-1 -> [B] float32 in nats."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def classification_error(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Whether the most probable class is wrong, in percent: logits [B, K], labels int [B] ->
    [B] float32, 0 or 100 (its mean is the error in %)."""
    return 100.0 * (jnp.argmax(logits, -1) != labels).astype(jnp.float32)


def class_balance(probs: jax.Array) -> jax.Array:
    """KL(mean of q(y|x) over the batch || uniform) in nats: probs [B, K] -> scalar float32, 0
    when the batch uses every class equally, log K when all of it goes to one class. The class
    discriminator sees one image's y at a time: once y is one-hot on a few classes it is right
    about them and has never seen the path to the unused ones, so it gives the encoder no way
    there; this term does (an addition to the paper's phases, weighted by
    config.class_balance_weight)."""
    mean = jnp.mean(probs.astype(jnp.float32), axis=0)
    return jnp.sum(mean * (jnp.log(jnp.maximum(mean, 1e-12)) + jnp.log(mean.shape[-1])))
