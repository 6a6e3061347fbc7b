"""The AAE's update steps, each differentiating only its own networks (PHASE_NETWORKS), so the
others stay bit-identical. `AAETrainer.train_step` composes them in the order of SCHEMES and
writes the combined scheme's "ae" step itself.
"""

import flax
import jax
import jax.numpy as jnp
import optax

from aae import losses, models
from common.shapes import Codes, TanhImages

# Phase -> the networks it trains; update scheme -> its phases, in order.
PHASE_NETWORKS = {
    "ae": ("encoder", "decoder"),
    "recon": ("encoder", "decoder"),
    "disc": ("discriminator",),
    "gen": ("encoder",),
}
SCHEMES = {"combined": ("ae", "disc"), "three_phase": ("recon", "disc", "gen")}


class AAEState(flax.struct.PyTreeNode):
    """The networks' params and one optimizer state per phase (the semi-supervised AAE's four
    networks and its task's phases: aae/semi_phases.py)."""

    step: jax.Array  # int32 scalar
    params: dict  # {"encoder", "decoder", "discriminator"}
    opt_states: dict  # {phase of the update scheme: optax state}


def step(state: AAEState, phase: str, loss_fn, tx, weight: float = 1.0, networks=None):
    """One step of `phase`'s optimizer on loss_fn(params) -> (loss, aux) over `networks` (None:
    PHASE_NETWORKS[phase]) only, the update times `weight`: (new state, aux)."""
    own = {name: state.params[name] for name in networks or PHASE_NETWORKS[phase]}
    (_, aux), grads = jax.value_and_grad(
        lambda sub: loss_fn({**state.params, **sub}), has_aux=True
    )(own)
    updates, opt_state = tx.update(grads, state.opt_states[phase], own)
    if weight != 1.0:
        updates = jax.tree.map(lambda u: weight * u, updates)
    params = {**state.params, **optax.apply_updates(own, updates)}
    return state.replace(params=params, opt_states={**state.opt_states, phase: opt_state}), aux


# ----------------------------------------------------------------------------- phases


def reconstruction_phase(state: AAEState, x: TanhImages, key, *, model, tx, weight: float):
    """Encoder + decoder on the reconstruction MSE, update x `weight`: (state, recon_loss)."""

    def loss_fn(params):
        recon_loss = jnp.mean((x - model.apply({"params": params}, x, key)[0]) ** 2)
        return recon_loss, recon_loss

    return step(state, "recon", loss_fn, tx, weight)


def discriminator_phase(state: AAEState, z_real: Codes, z_fake: Codes, condition, *, model, tx):
    """Discriminator on prior draws ("real") and the encoder's codes ("fake"), with the one-hots
    `condition` when label-guided (else None): (state, aux)."""
    both = None if condition is None else jnp.concatenate([condition, condition])

    def loss_fn(params):
        z = jnp.concatenate([z_real, z_fake])
        d = model.apply({"params": params}, z, both, method=models.AdversarialAE.discriminate)
        return losses.discriminator_loss(d[: len(z_real)], d[len(z_real) :])

    return step(state, "disc", loss_fn, tx)


def generator_phase(state: AAEState, x: TanhImages, key, condition, *, model, tx, weight: float):
    """Encoder on the generator loss (`condition` as above), update x `weight`: (state,
    gen_loss). Losses are of the params before the step."""

    def loss_fn(params):
        z = model.apply({"params": params}, x, key, method=models.AdversarialAE.encode)
        d_fake = model.apply(
            {"params": params}, z, condition, method=models.AdversarialAE.discriminate
        )
        gen_loss = losses.generator_loss(d_fake)
        return gen_loss, gen_loss

    return step(state, "gen", loss_fn, tx, weight)
