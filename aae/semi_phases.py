"""The semi-supervised AAE's update steps (the AAE paper's section 5), each differentiating only
its own networks.

Every mini-batch runs its task's phases in order (TASKS):
  recon     encoder + decoder on the reconstruction MSE;
  disc      both discriminators: N(0, I) draws against the encoder's z, one-hot draws of the
            categorical prior against its softmax y;
  gen       the encoder as the generator against both discriminators;
  classify  the encoder on the cross-entropy of q(y|x) on a mini-batch of labelled images.
The train state is the AAE's (`phases.AAEState`: step, the four networks' params, one optimizer
state per phase) and each phase goes through `phases.step` with its own networks
(PHASE_NETWORKS), so the others stay bit-identical. `SemiAAETrainer.train_step`
(aae/semi_train.py) composes them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from aae import losses, phases, semi_losses, semi_models
from aae.phases import AAEState

Model = semi_models.SemiSupervisedAAE

# Phase -> the networks it trains; task -> its phases, in order.
PHASE_NETWORKS = {
    "recon": ("encoder", "decoder"),
    "disc": ("style_discriminator", "class_discriminator"),
    "gen": ("encoder",),
    "classify": ("encoder",),
}
TASKS = {
    "semi_supervised": ("recon", "disc", "gen", "classify"),  # the paper's section 5
    "clustering": ("recon", "disc", "gen"),  # section 6: no label is ever seen in training
    "supervised": ("classify",),  # the baseline: the same encoder on the labelled images alone
}


def step(state: AAEState, phase: str, loss_fn, tx: optax.GradientTransformation):
    """One step of `phase`'s optimizer on loss_fn(params) -> (loss, aux) over the phase's own
    networks (PHASE_NETWORKS). Returns (new state, aux)."""
    return phases.step(state, phase, loss_fn, tx, networks=PHASE_NETWORKS[phase])


def reconstruction_phase(state: AAEState, x_in, x, *, model: Model, tx):
    """Encoder + decoder step on the mean squared error of reconstructing x from x_in (both
    [B, 28, 28, 1] in [-1, 1]; x_in may carry input noise).

    Returns:
      (new state, {"recon_loss": float32 scalar of the params before the step}).
    """

    def loss_fn(params):
        recon_x, _ = model.apply({"params": params}, x_in)
        recon_loss = jnp.mean(semi_losses.reconstruction_error(x, recon_x))
        return recon_loss, {"recon_loss": recon_loss}

    return step(state, "recon", loss_fn, tx)


def discriminator_phase(state: AAEState, z_real, z_fake, y_real, y_fake, *, model: Model, tx):
    """Both discriminators' step: N(0, I) draws z_real against the encoder's z_fake (both
    [B, z_dim]), one-hot prior draws y_real against the encoder's softmax y_fake (both [B, K]).
    Their losses are summed: each depends on its own network only.

    Returns:
      (new state, {"disc_style_loss", "disc_style_accuracy", "disc_class_loss",
      "disc_class_accuracy"}), float32 scalars; the accuracies are the share of the 2B inputs
      on the right side of logit 0.
    """
    n = z_real.shape[0]

    def loss_fn(params):
        d_z = model.apply(
            {"params": params}, jnp.concatenate([z_real, z_fake]), method=Model.discriminate_style
        )
        d_y = model.apply(
            {"params": params}, jnp.concatenate([y_real, y_fake]), method=Model.discriminate_class
        )
        style_loss, style = losses.discriminator_loss(d_z[:n], d_z[n:])
        class_loss, klass = losses.discriminator_loss(d_y[:n], d_y[n:])
        return style_loss + class_loss, {
            "disc_style_loss": style_loss,
            "disc_style_accuracy": style["accuracy"],
            "disc_class_loss": class_loss,
            "disc_class_accuracy": klass["accuracy"],
        }

    return step(state, "disc", loss_fn, tx)


def generator_phase(state: AAEState, x_in, *, model: Model, tx):
    """Encoder step as the generator: its z of x_in [B, 28, 28, 1] should pass for N(0, I)
    draws and its softmax y for one-hot draws of the categorical prior (the two binary
    cross-entropies against "real", summed).

    Returns:
      (new state, {"gen_style_loss", "gen_class_loss"}: float32 scalars before the step).
    """

    def loss_fn(params):
        logits, z = model.apply({"params": params}, x_in, method=Model.encode)
        style = losses.generator_loss(
            model.apply({"params": params}, z, method=Model.discriminate_style)
        )
        klass = losses.generator_loss(
            model.apply({"params": params}, jax.nn.softmax(logits), method=Model.discriminate_class)
        )
        return style + klass, {"gen_style_loss": style, "gen_class_loss": klass}

    return step(state, "gen", loss_fn, tx)


def classification_phase(state: AAEState, x_in, labels, *, model: Model, tx):
    """Encoder step on the cross-entropy of q(y|x_in) against the labels (x_in: labelled images
    [B, 28, 28, 1] in [-1, 1], labels int32 [B] in 0..K-1).

    Returns:
      (new state, {"class_loss": mean cross-entropy in nats, "class_error": error in % on this
      mini-batch}, of the params before the step).
    """

    def loss_fn(params):
        logits, _ = model.apply({"params": params}, x_in, method=Model.encode)
        class_loss = jnp.mean(semi_losses.classification_loss(logits, labels))
        error = jnp.mean(semi_losses.classification_error(logits, labels))
        return class_loss, {"class_loss": class_loss, "class_error": error}

    return step(state, "classify", loss_fn, tx)


def learning_rate(opt: ml_collections.ConfigDict) -> float | optax.Schedule:
    """An optimizer's learning rate: constant, or a schedule of its step count: a linear warm-up
    from 0 over opt.warmup_steps, times opt.decay_factor at each step of opt.decay_steps."""
    if not opt.warmup_steps and not opt.decay_steps:
        return opt.learning_rate
    decay = optax.piecewise_constant_schedule(
        opt.learning_rate, {int(step): opt.decay_factor for step in opt.decay_steps}
    )
    if not opt.warmup_steps:
        return decay
    warmup = optax.linear_schedule(0.0, 1.0, opt.warmup_steps)

    def schedule(count):
        return warmup(count) * decay(count)

    return schedule


def make_optimizers(config: ml_collections.ConfigDict) -> dict[str, optax.GradientTransformation]:
    """One optax transformation per phase of config.task, from config.optimizers."""
    txs = {}
    for phase in TASKS[config.task]:
        opt = config.optimizers[phase]
        if opt.name == "adam":
            txs[phase] = optax.adam(learning_rate(opt), b1=opt.b1, b2=opt.b2)
        else:
            txs[phase] = optax.sgd(learning_rate(opt), momentum=opt.momentum or None)
    return txs
