"""VAE training: state, compiled steps and epochs, and `train_and_evaluate`.

The whole dataset lives on the device as uint8; one epoch is one compiled `lax.scan` over
shuffled batch indices, so the host syncs once per epoch.
"""

import functools
import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging
from clu import metrics as clu_metrics
from flax.training import train_state

from common import epochs, input_pipeline, train_loop
from common import images as image_utils
from common.errors import ConfigError
from common.metric_writer import MetricWriter
from vae import losses, models, sampling


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    bpd: clu_metrics.Average.from_output("bpd")
    l_rec: clu_metrics.Average.from_output("l_rec")
    l_reg: clu_metrics.Average.from_output("l_reg")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError for values out of range (before anything is written)."""
    train_loop.validate_common_config(config)
    if config.model != "vae":
        raise ConfigError(f"config.model={config.model!r}: this trainer trains 'vae'")


def make_model(config: ml_collections.ConfigDict) -> models.VAE:
    return models.VAE(
        num_filters=config.num_filters, z_dim=config.z_dim, conv_impl=config.conv_impl
    )


def create_train_state(config: ml_collections.ConfigDict, key: jax.Array) -> train_state.TrainState:
    """Initialises the VAE's params and Adam state from `key`."""
    model = make_model(config)
    images = jnp.zeros((1, *input_pipeline.IMAGE_SHAPE), jnp.int32)
    params = model.init(key, images, jax.random.key(0))["params"]
    return train_state.TrainState.create(
        apply_fn=model.apply, params=params, tx=optax.adam(config.learning_rate)
    )


def train_step(state: train_state.TrainState, batch: jax.Array, key: jax.Array):
    """One Adam step on the mean negative ELBO in bits per dimension.

    Args:
      state: the train state.
      batch: [B, 28, 28, 1] int32 in 0..15.
      key: PRNG key for the reparameterised z.

    Returns:
      (new state, TrainMetrics of this batch).
    """

    def loss_fn(params):
        l_rec, l_reg, bpd = state.apply_fn({"params": params}, batch, key)
        return bpd, (l_rec, l_reg)

    (bpd, (l_rec, l_reg)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    metrics = TrainMetrics.single_from_model_output(bpd=bpd, l_rec=l_rec, l_reg=l_reg)
    return state.apply_gradients(grads=grads), metrics


def example_losses(params, images: jax.Array, key: jax.Array, *, model: models.VAE):
    """Per-image losses of uint8 images [B, 28, 28, 1]: {"bpd", "l_rec", "l_reg"}, each [B]."""
    l_rec, l_reg = model.apply(
        {"params": params},
        input_pipeline.quantize_4bit(images),
        key,
        method=models.VAE.per_example_losses,
    )
    bpd = losses.elbo_to_bpd(l_rec + l_reg, images.shape)
    return {"bpd": bpd, "l_rec": l_rec, "l_reg": l_reg}


def _prefixed(prefix: str, out: tuple):
    state, metrics = out
    return state, {prefix + k: v for k, v in metrics.items()}


def write_bpd_curve(workdir: str, history: list[dict], test_bpd: float | None = None) -> None:
    rows = [r for r in history if "epoch" in r]
    curves = {
        split: ([r["epoch"] for r in rows if key in r], [r[key] for r in rows if key in r])
        for split, key in (("train", "train_bpd"), ("validation", "val_bpd"))
    }
    image_utils.save_curves(
        os.path.join(workdir, "bpd_curve.png"),
        curves,
        ylabel="bits per dimension (negative ELBO)",
        title="VAE: bpd per epoch",
        hlines=None if test_bpd is None else {"test (best checkpoint)": test_bpd},
    )


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the VAE (resuming from `workdir` when it holds a run) and tests the best epoch.

    Returns:
      The final metrics row, {"test_bpd", "best_epoch"} (no test_bpd without a test set).
    """
    validate_config(config)
    data = input_pipeline.load_dataset(config.data)  # before the workdir: bad data writes nothing
    logging.info("Data: %s", data.describe())
    workdir = os.path.abspath(workdir)

    model = make_model(config)
    pieces = epochs.setup(
        config,
        data.train_images,
        step_fn=train_step,
        transform=input_pipeline.quantize_4bit,
        metrics_cls=TrainMetrics,
        example_fn=functools.partial(example_losses, model=model),
    )
    val_eval = pieces.evaluator(data.val_images)
    train_eval = pieces.evaluator(data.train_images[: len(data.val_images)])
    sampler = sampling.Sampler(model, pieces.keys.sample, config.num_samples)

    def evaluate_epoch(state, epoch):
        out = {f"val_{k}": v for k, v in val_eval(state.params, epoch).items()}
        out["val_elbo"] = -(out["val_l_rec"] + out["val_l_reg"])
        if epoch == 0:  # no training mean yet: the untrained model on as many training images
            out["train_bpd"] = train_eval(state.params, epoch)["bpd"]
        return out

    def write_artifacts(state, epoch, writer: MetricWriter):
        if epoch in config.sample_epochs:
            sampler.write(state.params, epoch, workdir, writer)
        write_bpd_curve(workdir, writer.history())

    def finish(best_state, writer: MetricWriter):
        final = {}
        if data.test_images is not None:
            final["test_bpd"] = pieces.evaluator(data.test_images)(best_state.params)["bpd"]
        else:
            logging.warning("No test set (t10k-only data): no test bpd.")
        write_bpd_curve(workdir, writer.history(), final.get("test_bpd"))
        if config.z_dim == 2:
            sampler.write_manifold(best_state.params, config.manifold_size, workdir, writer)
        return final

    task = train_loop.Task(
        init_state=lambda: pieces.init_state(functools.partial(create_train_state, config)),
        train_epoch=lambda state, epoch: _prefixed("train_", pieces.train_epoch(state, epoch)),
        evaluate=evaluate_epoch,
        write_artifacts=write_artifacts,
        finish=finish,
        num_train_images=pieces.num_train_images,
        monitor="val_bpd",
    )
    return train_loop.run(config, workdir, task, fresh=fresh)


def prior_samples(config: ml_collections.ConfigDict, params, key: jax.Array, num: int):
    """[num, 28, 28, 1] float32 in [0, 1]: z ~ N(0, I), each pixel drawn from its categorical."""
    draws, _ = sampling.sample_images(make_model(config), params, key, num)
    return draws.astype(jnp.float32) / (input_pipeline.NUM_VALUES - 1)
