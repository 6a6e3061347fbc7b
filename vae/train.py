"""VAE training: `VAETrainer`, what the VAE adds to the shared loop (common/train/trainer.py).

python scripts/train_vae.py --config configs/vae.py --workdir runs/vae
"""

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metrics as clu_metrics
from flax.training import train_state

from common import config_rules, input_pipeline, shapes
from common.shapes import Codes, ImagesU8, PerImage, Pixels4, UnitImages
from common.train import pictures, run_files, trainer
from vae import losses, models, sampling


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    bpd: clu_metrics.Average.from_output("bpd")
    l_rec: clu_metrics.Average.from_output("l_rec")
    l_reg: clu_metrics.Average.from_output("l_reg")


class VAETrainer(trainer.Trainer):
    """The VAE of the assignment's section 1: Adam on the negative ELBO in bits per dimension."""

    kind = "vae"
    train_metrics = TrainMetrics
    monitor = "val_bpd"
    curves = pictures.Curves(
        file=run_files.BPD_CURVE,
        title="VAE: bits per dimension (negative ELBO) per epoch",
        panels=(
            pictures.Panel(
                "bits per dimension",
                (("train_bpd", "train (mean over the epoch)"), ("val_bpd", "validation")),
                final=("test_bpd", "test, best validation epoch"),
            ),
        ),
    )
    sample_texts = {
        "samples": "4-bit pixels drawn from their categoricals / 15",
        "samples" + run_files.PIXEL_MEANS: "each pixel's mean / 15",
    }
    rules = {
        **trainer.Trainer.rules,
        "learning_rate": config_rules.POSITIVE,
        "manifold_size": config_rules.integer(1),
    }

    def make_model(self) -> models.VAE:
        c = self.config
        return models.VAE(num_filters=c.num_filters, z_dim=c.z_dim, conv_impl=c.conv_impl)

    def create_train_state(self, key: jax.Array) -> train_state.TrainState:
        """The VAE's params initialised from `key`, and Adam's state."""
        x = jnp.zeros((1, *shapes.IMAGE_SHAPE), jnp.int32)
        # The second key only feeds init's throwaway z sample; the parameters come from `key`.
        params = self.model.init(key, x, jax.random.key(0))["params"]
        tx = optax.adam(self.config.learning_rate)
        return train_state.TrainState.create(apply_fn=self.model.apply, params=params, tx=tx)

    def preprocess(self, images_u8: ImagesU8) -> Pixels4:
        return input_pipeline.quantize_4bit(images_u8)

    def train_step(
        self, state: train_state.TrainState, batch: Pixels4, key: jax.Array, labels=None
    ):
        """One Adam step on the batch's mean bpd; `key` draws z, labels are always None."""
        del labels

        def loss_fn(params):
            terms = self.model.apply(
                {"params": params}, batch, key, method=models.VAE.per_example_losses
            )
            return jnp.mean(terms.bpd), terms

        (bpd, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        metrics = TrainMetrics.single_from_model_output(
            bpd=bpd, l_rec=jnp.mean(terms.l_rec), l_reg=jnp.mean(terms.l_reg)
        )
        return state.apply_gradients(grads=grads), metrics

    def example_metrics(self, params, images_u8: ImagesU8, key: jax.Array) -> dict[str, PerImage]:
        """bpd, l_rec, l_reg and elbo (nats) of each image."""
        return self.example_metrics_and_codes(params, images_u8, key)[0]

    def example_metrics_and_codes(self, params, images_u8: ImagesU8, key: jax.Array):
        """example_metrics and the z ~ q(z|x) their ELBO drew: one encoder pass."""
        x = self.preprocess(images_u8)
        terms, z = self.model.apply(
            {"params": params}, x, key, method=models.VAE.per_example_losses_and_codes
        )
        return {**terms._asdict(), "elbo": -(terms.l_rec + terms.l_reg)}, z

    def encode(self, params, images_u8: ImagesU8) -> Codes:
        mean, _ = self.model.apply(
            {"params": params}, self.preprocess(images_u8), method=models.VAE.encode
        )
        return mean

    def sample_codes(self, params, images_u8: ImagesU8, key: jax.Array) -> Codes:
        """z ~ q(z|x): the aggregate posterior is what the KL term pulls towards the prior."""
        mean, log_std = self.model.apply(
            {"params": params}, self.preprocess(images_u8), method=models.VAE.encode
        )
        return losses.sample_reparameterize(key, mean, jnp.exp(log_std))

    def decode(self, params, z: Codes) -> UnitImages:
        """The mean of each pixel's categorical, scaled to [0, 1]."""
        logits = self.model.apply({"params": params}, z, method=models.VAE.decode)
        return models.pixel_means(logits) / (shapes.NUM_VALUES - 1)

    def sample_grids(self, params, key: jax.Array, num: int) -> dict[str, UnitImages]:
        """{"samples": pixels drawn from their categoricals, "samples_mean": each pixel's mean},
        of the same z ~ N(0, I)."""
        draws, means = sampling.sample_images(self.model, params, key, num)
        scale = 1.0 / (shapes.NUM_VALUES - 1)
        return {
            "samples": draws.astype(jnp.float32) * scale,
            "samples" + run_files.PIXEL_MEANS: means * scale,
        }

    def model_pictures(self, params, data, key) -> dict[str, tuple[np.ndarray, str]]:
        """With z_dim 2, the data manifold (Question 1.9)."""
        del data, key
        if self.config.z_dim != 2:
            return {}
        size = self.config.manifold_size
        manifold = sampling.visualize_manifold(self.model, params, size)
        what = (
            f"pixel means of z on a {size} x {size} grid of N(0, 1) percentiles (z1 to the "
            "right, z2 up)"
        )
        return {run_files.MANIFOLD: (manifold, what)}


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the VAE of `config` in `workdir` (resuming a run there); the final row."""
    return VAETrainer(config).train_and_evaluate(workdir, fresh)
