"""The semi-supervised AAE's update steps (the AAE paper's section 5), run in TASKS' order by
`SemiAAETrainer.train_step`. Each differentiates only its PHASE_NETWORKS, so the other networks
stay bit-identical; each returns (new state, metrics of the params before the step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from aae import losses, phases, semi_losses, semi_models
from aae.phases import AAEState
from common.shapes import Codes, Labels, TanhImages

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
    """One step of `phase`'s optimizer on loss_fn(params) -> (loss, aux): (new state, aux)."""
    return phases.step(state, phase, loss_fn, tx, networks=PHASE_NETWORKS[phase])


def reconstruction_phase(state: AAEState, x_in: TanhImages, x: TanhImages, *, model: Model, tx):
    """Encoder + decoder on the MSE of reconstructing x from x_in (x, with any input noise):
    {"recon_loss"}."""

    def loss_fn(params):
        recon_x, _ = model.apply({"params": params}, x_in)
        recon_loss = jnp.mean(semi_losses.reconstruction_error(x, recon_x))
        return recon_loss, {"recon_loss": recon_loss}

    return step(state, "recon", loss_fn, tx)


def discriminator_phase(
    state: AAEState, z_real: Codes, z_fake: Codes, y_real, y_fake, *, model: Model, tx
):
    """Both discriminators: prior draws z_real against the encoder's z_fake, one-hot draws
    y_real against its softmax y_fake ([B, K]). The losses are summed (each depends on its own
    network only): {"disc_style_loss", "disc_style_accuracy", "disc_class_loss",
    "disc_class_accuracy"}, accuracies the share of the 2B inputs on the right side of logit 0."""
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


def generator_phase(
    state: AAEState, x_in: TanhImages, *, model: Model, tx, balance_weight: float = 0.0
):
    """The encoder as generator: its z and softmax y of x_in should pass for prior draws (the
    two cross-entropies against "real", summed), plus balance_weight times
    semi_losses.class_balance of the batch's y (0: the paper's phase): {"gen_style_loss",
    "gen_class_loss", "gen_class_balance"}."""

    def loss_fn(params):
        logits, z = model.apply({"params": params}, x_in, method=Model.encode)
        probs = jax.nn.softmax(logits)
        style = losses.generator_loss(
            model.apply({"params": params}, z, method=Model.discriminate_style)
        )
        klass = losses.generator_loss(
            model.apply({"params": params}, probs, method=Model.discriminate_class)
        )
        balance = semi_losses.class_balance(probs)
        loss = style + klass
        if balance_weight:  # a Python float: without it, the paper's phase op for op
            loss = loss + balance_weight * balance
        return loss, {
            "gen_style_loss": style,
            "gen_class_loss": klass,
            "gen_class_balance": balance,
        }

    return step(state, "gen", loss_fn, tx)


def classification_phase(state: AAEState, x_in: TanhImages, labels: Labels, *, model: Model, tx):
    """The encoder on q(y|x_in)'s cross-entropy: {"class_loss": mean nats, "class_error": %}."""

    def loss_fn(params):
        logits, _ = model.apply({"params": params}, x_in, method=Model.encode)
        class_loss = jnp.mean(semi_losses.classification_loss(logits, labels))
        error = jnp.mean(semi_losses.classification_error(logits, labels))
        return class_loss, {"class_loss": class_loss, "class_error": error}

    return step(state, "classify", loss_fn, tx)


def learning_rate(opt: ml_collections.ConfigDict) -> float | optax.Schedule:
    """Constant, or a schedule of the step count: a linear warm-up from 0 over opt.warmup_steps,
    times opt.decay_factor at each of opt.decay_steps."""
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


def late_decay_steps(config: ml_collections.ConfigDict, num_steps: int) -> list[int]:
    """The learning-rate drops of config.task's optimizers at or after step `num_steps` (an
    optimizer's count is the step: each phase updates once a step), so that a run of
    `num_steps` never takes them; sorted, each once."""
    return sorted(
        {s for p in TASKS[config.task] for s in config.optimizers[p].decay_steps if s >= num_steps}
    )


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
