"""AAE training: one state for three networks, one pure function per phase, `train_step`.

Update schemes (`config.update_scheme`):
- "combined" (the course template's): (a) encoder + decoder on
  lambda_ * recon + (1 - lambda_) * gen, then (b) the discriminator on the codes of (a).
- "three_phase" (the AAE paper's and the assignment's section 2.2): reconstruction update of
  encoder + decoder, then the discriminator, then a generator update of the encoder alone.
Each phase differentiates only its own subtree of the params, so the others stay bit-identical.
"""

import functools
import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from clu import metrics as clu_metrics

from aae import losses, models
from common import epochs, input_pipeline, train_loop
from common import images as image_utils
from common.errors import ConfigError
from common.metric_writer import MetricWriter

SCHEMES = {
    # phase name -> the params it updates
    "combined": {"ae": ("encoder", "decoder"), "disc": ("discriminator",)},
    "three_phase": {
        "recon": ("encoder", "decoder"),
        "disc": ("discriminator",),
        "gen": ("encoder",),
    },
}


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    recon_loss: clu_metrics.Average.from_output("recon_loss")
    gen_loss: clu_metrics.Average.from_output("gen_loss")
    ae_loss: clu_metrics.Average.from_output("ae_loss")
    disc_loss: clu_metrics.Average.from_output("disc_loss")
    disc_accuracy: clu_metrics.Average.from_output("disc_accuracy")


class AAEState(flax.struct.PyTreeNode):
    """step: int32 scalar; params: {"encoder", "decoder", "discriminator"}; opt_states: one
    optax state per phase of the update scheme (see SCHEMES)."""

    step: jax.Array
    params: dict
    opt_states: dict


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError for values out of range (before anything is written)."""
    train_loop.validate_common_config(config)
    if config.model != "aae":
        raise ConfigError(f"config.model={config.model!r}: this trainer trains 'aae'")
    if not 0.0 <= config.lambda_ <= 1.0:
        raise ConfigError(f"config.lambda_={config.lambda_} must be in [0, 1]")
    if config.update_scheme not in SCHEMES:
        raise ConfigError(
            f"config.update_scheme={config.update_scheme!r} is unknown; known: {', '.join(SCHEMES)}"
        )
    for phase in SCHEMES[config.update_scheme]:
        opt = config.optimizers[phase]
        if opt.name not in ("adam", "sgd") or opt.learning_rate <= 0:
            raise ConfigError(
                f"config.optimizers.{phase}: need name adam or sgd and learning_rate > 0"
            )


def make_model(config: ml_collections.ConfigDict) -> models.AdversarialAE:
    return models.AdversarialAE(
        z_dim=config.z_dim,
        num_filters=config.num_filters,
        disc_hidden=config.disc_hidden,
        stochastic=config.stochastic_encoder,
        conv_impl=config.conv_impl,
    )


def make_optimizers(config: ml_collections.ConfigDict) -> dict[str, optax.GradientTransformation]:
    """One optax transformation per phase of config.update_scheme, from config.optimizers."""
    txs = {}
    for phase in SCHEMES[config.update_scheme]:
        opt = config.optimizers[phase]
        if opt.name == "adam":
            txs[phase] = optax.adam(opt.learning_rate, b1=opt.b1, b2=opt.b2)
        else:
            txs[phase] = optax.sgd(opt.learning_rate)
    return txs


def create_train_state(config: ml_collections.ConfigDict, key: jax.Array) -> AAEState:
    model = make_model(config)
    x = jnp.zeros((1, *input_pipeline.IMAGE_SHAPE), jnp.float32)
    params = model.init(key, x, method=models.AdversarialAE.initialize)["params"]
    opt_states = {
        phase: tx.init(_subtree(params, SCHEMES[config.update_scheme][phase]))
        for phase, tx in make_optimizers(config).items()
    }
    return AAEState(step=jnp.zeros((), jnp.int32), params=params, opt_states=opt_states)


def _subtree(params: dict, names: tuple[str, ...]) -> dict:
    return {name: params[name] for name in names}


def _update(state: AAEState, phase: str, grads: dict, tx) -> AAEState:
    """Applies `tx` to the phase's own subtree; the rest of the params is left untouched."""
    sub = _subtree(state.params, tuple(grads))
    updates, opt_state = tx.update(grads, state.opt_states[phase], sub)
    params = {**state.params, **optax.apply_updates(sub, updates)}
    return state.replace(params=params, opt_states={**state.opt_states, phase: opt_state})


# ----------------------------------------------------------------------------- phases


def autoencoder_phase(state, x, key, *, model, tx, lambda_, phase="ae", gen_weight=True):
    """Encoder + decoder step on lambda_ * recon (+ (1 - lambda_) * gen if gen_weight).

    Returns:
      (new state, loss dict, the codes z [B, z_dim] of the params before the step).
    """

    def loss_fn(sub):
        params = {**state.params, **sub}
        recon_x, z = model.apply({"params": params}, x, key)
        d_fake = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
        loss, aux = losses.autoencoder_loss(x, recon_x, d_fake, lambda_)
        if not gen_weight:
            loss = lambda_ * aux["recon_loss"]
        return loss, (aux, z)

    (_, (aux, z)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _subtree(state.params, ("encoder", "decoder"))
    )
    return _update(state, phase, grads, tx), aux, jax.lax.stop_gradient(z)


def discriminator_phase(state, z_fake, key, *, model, tx):
    """Discriminator step: prior samples z ~ N(0, I) are "real", the encoder's codes "fake"."""
    z_real = jax.random.normal(key, z_fake.shape, z_fake.dtype)

    def loss_fn(sub):
        params = {**state.params, **sub}
        d = model.apply(
            {"params": params},
            jnp.concatenate([z_real, z_fake]),
            method=models.AdversarialAE.discriminate,
        )
        return losses.discriminator_loss(d[: len(z_real)], d[len(z_real) :])

    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _subtree(state.params, ("discriminator",))
    )
    return _update(state, "disc", grads, tx), aux


def generator_phase(state, x, key, *, model, tx, lambda_):
    """Encoder step on (1 - lambda_) * gen: make the codes look like prior samples."""

    def loss_fn(sub):
        params = {**state.params, **sub}
        z = model.apply({"params": params}, x, key, method=models.AdversarialAE.encode)
        d_fake = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
        gen_loss = jnp.mean(optax.sigmoid_binary_cross_entropy(d_fake, 1.0))
        return (1.0 - lambda_) * gen_loss, gen_loss

    (_, gen_loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _subtree(state.params, ("encoder",))
    )
    return _update(state, "gen", grads, tx), gen_loss


def train_step(state: AAEState, batch: jax.Array, key: jax.Array, *, model, txs, lambda_, scheme):
    """One AAE step in the order of `scheme` (see the module docstring).

    Args:
      batch: [B, 28, 28, 1] float32 in [-1, 1].
      key: PRNG key (encoder noise if stochastic, prior samples).

    Returns:
      (new state, TrainMetrics of this batch).
    """
    enc_key, prior_key, gen_key = jax.random.split(key, 3)
    if scheme == "combined":
        state, aux, z = autoencoder_phase(
            state, batch, enc_key, model=model, tx=txs["ae"], lambda_=lambda_
        )
        state, d_aux = discriminator_phase(state, z, prior_key, model=model, tx=txs["disc"])
        gen_loss = aux["gen_loss"]
    else:
        state, aux, _ = autoencoder_phase(
            state,
            batch,
            enc_key,
            model=model,
            tx=txs["recon"],
            lambda_=lambda_,
            phase="recon",
            gen_weight=False,
        )
        z = model.apply(
            {"params": state.params}, batch, enc_key, method=models.AdversarialAE.encode
        )
        state, d_aux = discriminator_phase(
            state, jax.lax.stop_gradient(z), prior_key, model=model, tx=txs["disc"]
        )
        state, gen_loss = generator_phase(
            state, batch, gen_key, model=model, tx=txs["gen"], lambda_=lambda_
        )
    metrics = TrainMetrics.single_from_model_output(
        recon_loss=aux["recon_loss"],
        gen_loss=gen_loss,
        ae_loss=lambda_ * aux["recon_loss"] + (1.0 - lambda_) * gen_loss,
        disc_loss=d_aux["disc_loss"],
        disc_accuracy=d_aux["accuracy"],
    )
    return state.replace(step=state.step + 1), metrics


# ----------------------------------------------------------------------------- pictures


def example_recon_loss(params, images, key, *, model):
    """uint8 [B, 28, 28, 1] -> {"recon_loss": [B]}, mean squared error per image (z = mean)."""
    del key
    x = input_pipeline.to_tanh_range(images)
    recon_x, _ = model.apply({"params": params}, x)
    return {"recon_loss": jnp.mean((x - recon_x) ** 2, axis=(1, 2, 3))}


def pick_examples(images: np.ndarray, labels: np.ndarray | None, num: int = 8) -> np.ndarray:
    """The first image of each label 0..num-1 (the first `num` images without labels)."""
    if labels is None or len(np.unique(labels)) < num:
        return images[:num]
    return np.stack([images[np.argmax(labels == k)] for k in range(num)])


class Pictures:
    """Reconstruction and sample grids from fixed inputs and fixed prior draws."""

    def __init__(self, model, examples_u8: np.ndarray, key: jax.Array, num_samples: int):
        self.model = model
        self.x = input_pipeline.to_tanh_range(jnp.asarray(examples_u8))
        self._recon = jax.jit(lambda params: model.apply({"params": params}, self.x)[0])
        self._sample = jax.jit(
            lambda params: model.apply(
                {"params": params}, key, num_samples, method=models.AdversarialAE.sample
            )
        )
        self._encode = jax.jit(
            lambda params, x: model.apply({"params": params}, x, method=models.AdversarialAE.encode)
        )

    def write(self, params, epoch: int, workdir: str, writer: MetricWriter | None = None):
        """reconstructions/epoch_{N}.png (inputs over reconstructions), samples/epoch_{N}.png."""
        recon = np.asarray(self._recon(params))
        pairs = np.concatenate([np.asarray(self.x), recon])
        for name, imgs, nrow in (
            ("reconstructions", pairs, len(self.x)),
            ("samples", np.asarray(self._sample(params)), 8),
        ):
            grid = image_utils.make_grid((imgs + 1.0) / 2.0, nrow=nrow)
            image_utils.save_image(grid, os.path.join(workdir, name, f"epoch_{epoch}.png"))
            if writer is not None:
                writer.write_image(epoch, name, grid)

    def encode(self, params, images_u8: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """uint8 [N, 28, 28, 1] -> z [N, z_dim] float32 (z = mean for a stochastic encoder)."""
        out = []
        for i in range(0, len(images_u8), batch_size):
            x = input_pipeline.to_tanh_range(jnp.asarray(images_u8[i : i + batch_size]))
            out.append(np.asarray(self._encode(params, x)))
        return np.concatenate(out)


def write_latent_scatter(path: str, z: np.ndarray, labels: np.ndarray | None, title: str):
    """The encoded images coloured by label over the N(0, I) prior's density contours."""
    fig = image_utils.new_figure(6, 6)
    ax = fig.subplots()
    lim = max(4.0, float(np.percentile(np.abs(z), 99.5)))
    g = np.linspace(-lim, lim, 200)
    gx, gy = np.meshgrid(g, g)
    ax.contour(gx, gy, np.exp(-(gx**2 + gy**2) / 2), levels=6, colors="k", alpha=0.4)
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6)
    if labels is not None:
        fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="z1", ylabel="z2", title=title)
    ax.set_aspect("equal")
    fig.tight_layout()
    image_utils.save_figure(fig, path)


def write_loss_curves(workdir: str, history: list[dict]) -> None:
    rows = [r for r in history if "epoch" in r]
    keys = ("recon_loss", "val_recon_loss", "gen_loss", "disc_loss", "disc_accuracy")
    curves = {
        k: ([r["epoch"] for r in rows if k in r], [r[k] for r in rows if k in r]) for k in keys
    }
    image_utils.save_curves(
        os.path.join(workdir, "loss_curve.png"), curves, ylabel="loss", title="AAE per epoch"
    )


# ----------------------------------------------------------------------------- the run


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the AAE (resuming from `workdir` when it holds a run).

    Returns:
      The final metrics row: {"test_recon_loss"} (val when there is no test set).
    """
    validate_config(config)
    data = input_pipeline.load_dataset(config.data)  # before the workdir: bad data writes nothing
    logging.info("Data: %s", data.describe())
    workdir = os.path.abspath(workdir)

    model = make_model(config)
    step_fn = functools.partial(
        train_step,
        model=model,
        txs=make_optimizers(config),
        lambda_=config.lambda_,
        scheme=config.update_scheme,
    )
    pieces = epochs.setup(
        config,
        data.train_images,
        step_fn=step_fn,
        transform=input_pipeline.to_tanh_range,
        metrics_cls=TrainMetrics,
        example_fn=functools.partial(example_recon_loss, model=model),
    )
    val_eval = pieces.evaluator(data.val_images)
    test_images = data.val_images if data.test_images is None else data.test_images
    test_labels = data.val_labels if data.test_images is None else data.test_labels
    pictures = Pictures(
        model, pick_examples(test_images, test_labels), pieces.keys.sample, config.num_samples
    )

    def write_artifacts(state, epoch, writer):
        if epoch in config.sample_epochs:
            pictures.write(state.params, epoch, workdir, writer)
        write_loss_curves(workdir, writer.history())

    def finish(state, writer):
        split = "val" if data.test_images is None else "test"
        final = {f"{split}_recon_loss": pieces.evaluator(test_images)(state.params)["recon_loss"]}
        if config.z_dim == 2:
            write_latent_scatter(
                os.path.join(workdir, "latent_scatter.png"),
                pictures.encode(state.params, test_images),
                test_labels,
                f"{split} set codes, z_dim 2, lambda {config.lambda_}",
            )
        return final

    task = train_loop.Task(
        init_state=lambda: pieces.init_state(functools.partial(create_train_state, config)),
        train_epoch=pieces.train_epoch,
        evaluate=lambda state, epoch: {
            f"val_{k}": v for k, v in val_eval(state.params, epoch).items()
        },
        write_artifacts=write_artifacts,
        finish=finish,
        num_train_images=pieces.num_train_images,
    )
    return train_loop.run(config, workdir, task, fresh=fresh)


def prior_samples(config: ml_collections.ConfigDict, params, key: jax.Array, num: int):
    """[num, 28, 28, 1] float32 in [0, 1]: decoded z ~ N(0, I)."""
    x = make_model(config).apply({"params": params}, key, num, method=models.AdversarialAE.sample)
    return (x + 1.0) / 2.0
