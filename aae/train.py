"""AAE training: `AAETrainer`, what the AAE adds to the shared loop.

    python scripts/train_aae.py --config configs/aae.py --workdir runs/aae

`config.update_scheme`: "combined" (the course template's): encoder + decoder on lambda_ * recon
+ (1 - lambda_) * gen with one Adam, then the discriminator on that step's codes. "three_phase"
(the AAE paper's, the assignment's 2.2): reconstruction, discriminator, then generator steps,
each with its own Adam; Adam ignores a loss's scale, so lambda_ scales the reconstruction's
*update* and 1 - lambda_ the generator's (lambda_ = 1: the encoder only reconstructs).
Label-guided (`config.prior.labels`), the discriminator judges each code with its label's
one-hot (NO_LABEL for the unlabelled), and label k's real codes come from the prior's region k.
"""

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metrics as clu_metrics

from aae import losses, models, phases, sampling
from common import config_rules, input_pipeline, priors, shapes
from common.errors import DataError
from common.shapes import Codes, ImagesU8, PerImage, TanhImages, UnitImages
from common.train import pictures, run_files, run_setup, trainer

OPTIMIZERS = ("adam", "sgd")
SAMPLES_PER_REGION = 8  # columns of the per-region sample grid (a row per region)


@flax.struct.dataclass
class TrainMetrics(clu_metrics.Collection):
    recon_loss: clu_metrics.Average.from_output("recon_loss")
    gen_loss: clu_metrics.Average.from_output("gen_loss")
    ae_loss: clu_metrics.Average.from_output("ae_loss")
    disc_loss: clu_metrics.Average.from_output("disc_loss")
    disc_accuracy: clu_metrics.Average.from_output("disc_accuracy")


def make_optimizers(config: ml_collections.ConfigDict) -> dict[str, optax.GradientTransformation]:
    """One optax transformation per phase of config.update_scheme, from config.optimizers."""
    txs = {}
    for phase in phases.SCHEMES[config.update_scheme]:
        opt = config.optimizers[phase]
        lr = opt.learning_rate
        if opt.warmup_steps:  # a schedule adds a step count to the optimizer's state
            lr = optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps)
        if opt.name == "adam":
            txs[phase] = optax.adam(lr, b1=opt.b1, b2=opt.b2)
        else:
            txs[phase] = optax.sgd(lr)
    return txs


# ----------------------------------------------------------------------------- the trainer


class AAETrainer(trainer.Trainer):
    """The adversarial autoencoder of the assignment's section 2 (lambda_ 1: a plain one)."""

    kind = "aae"
    train_metrics = TrainMetrics
    curves = pictures.Curves(
        file=run_files.LOSS_CURVE,
        title="AAE per epoch",
        panels=(
            pictures.Panel(
                "reconstruction MSE",
                (
                    ("train_recon_loss", "train (mean over the epoch)"),
                    ("val_recon_loss", "validation"),
                ),
                final=("test_recon_loss", "test, last epoch"),
            ),
            pictures.Panel(
                "adversarial loss (BCE)",
                (("train_gen_loss", "generator (encoder)"), ("train_disc_loss", "discriminator")),
            ),
            pictures.Panel(
                "discriminator accuracy", (("train_disc_accuracy", "on prior draws and codes"),)
            ),
        ),
    )
    sample_texts = {
        "samples": "decoded prior draws, (x + 1) / 2",
        "samples" + run_files.BY_REGION: "decoded draws of each region of the prior, a row each",
    }
    rules = {
        **trainer.Trainer.rules,
        "disc_hidden": config_rules.integer(1),
        "lambda_": config_rules.real(0.0, 1.0),
        "update_scheme": config_rules.one_of(phases.SCHEMES),
        "optimizers.*.name": config_rules.one_of(OPTIMIZERS),
        "optimizers.*.learning_rate": config_rules.POSITIVE,
        "optimizers.*.b1": config_rules.BETA,
        "optimizers.*.b2": config_rules.BETA,
        "optimizers.*.warmup_steps": config_rules.integer(0),
        "prior.name": config_rules.one_of(priors.PRIORS),
        "prior.labels": config_rules.BOOLEAN,
        "prior.labelled_share": config_rules.real(0.0, 1.0, open_low=True),
        "prior.num_components": config_rules.integer(2),
        "prior.radius": config_rules.POSITIVE,
        "prior.radial_std": config_rules.real(0.0),
        "prior.tangential_std": config_rules.real(0.0),
        "prior.roll_radius": config_rules.POSITIVE,
        "prior.roll_turns": config_rules.POSITIVE,
    }

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        self.txs = make_optimizers(config)

    @classmethod
    def validate_config(cls, config: ml_collections.ConfigDict) -> None:
        """The rules, then what the prior needs of the rest (a 2-D prior needs z_dim 2)."""
        super().validate_config(config)
        priors.from_config(config.prior, config.z_dim)

    def make_prior(self) -> priors.Prior:
        return priors.from_config(self.config.prior, self.config.z_dim)

    def make_model(self) -> models.AdversarialAE:
        c = self.config
        return models.AdversarialAE(
            num_filters=c.num_filters,
            z_dim=c.z_dim,
            disc_hidden=c.disc_hidden,
            stochastic=c.stochastic_encoder,
            conv_impl=c.conv_impl,
            prior=self.prior,
            num_conditions=priors.NUM_CONDITIONS if c.prior.labels else 0,
        )

    def train_labels(self, data: input_pipeline.Dataset, keys: run_setup.Keys) -> np.ndarray | None:
        """Label-guided: each training image's label, but priors.NO_LABEL for all except a share
        config.prior.labelled_share (a function of config.seed alone, so every epoch and resumed
        session sees the same labels); else None. DataError when the data has no labels."""
        if not self.config.prior.labels:
            return None
        if data.train_labels is None:
            raise DataError(
                f"{data.describe()}: config.prior.labels=True needs the training images' labels "
                "(the train-labels-idx1-ubyte file), and the data has none"
            )
        num = len(data.train_labels)
        keep = round(self.config.prior.labelled_share * num)
        # Folded with a number no epoch reaches: not any epoch's shuffle.
        order = jax.random.permutation(jax.random.fold_in(keys.shuffle, 2**31 - 1), num)
        labels = np.full(num, priors.NO_LABEL, np.int32)
        kept = np.asarray(order[:keep])
        labels[kept] = data.train_labels[kept]
        return labels

    def create_train_state(self, key: jax.Array) -> phases.AAEState:
        """The three networks' params initialised from `key`, one optimizer state per phase."""
        x = jnp.zeros((1, *shapes.IMAGE_SHAPE), jnp.float32)
        params = self.model.init(key, x, method=models.AdversarialAE.initialize)["params"]
        opt_states = {
            p: tx.init({name: params[name] for name in phases.PHASE_NETWORKS[p]})
            for p, tx in self.txs.items()
        }
        return phases.AAEState(step=jnp.zeros((), jnp.int32), params=params, opt_states=opt_states)

    def preprocess(self, images_u8: ImagesU8) -> TanhImages:
        return input_pipeline.to_tanh_range(images_u8)

    def train_step(self, state: phases.AAEState, batch: TanhImages, key: jax.Array, labels=None):
        """One step of config.update_scheme; labels as `train_labels` gives them, or None."""
        model, txs, lambda_ = self.model, self.txs, self.config.lambda_
        enc_key, prior_key, gen_key = jax.random.split(key, 3)
        if labels is None:
            condition, z_real = None, self.prior.sample(prior_key, batch.shape[0])
        else:
            condition = jax.nn.one_hot(labels, priors.NUM_CONDITIONS)
            z_real = self.prior.sample_for_labels(prior_key, labels)
        if self.config.update_scheme == "combined":

            def loss_fn(params):  # Eq. 15: lambda_ * recon + (1 - lambda_) * gen
                recon_x, z = model.apply({"params": params}, batch, enc_key)
                d_fake = model.apply(
                    {"params": params}, z, condition, method=models.AdversarialAE.discriminate
                )
                loss, aux = losses.autoencoder_loss(batch, recon_x, d_fake, lambda_)
                return loss, (aux, z)

            # Encoder + decoder only; z, the codes before the step, goes to the discriminator.
            state, (aux, z) = phases.step(state, "ae", loss_fn, txs["ae"])
            recon_loss, gen_loss = aux["recon_loss"], aux["gen_loss"]
        else:
            state, recon_loss = phases.reconstruction_phase(
                state, batch, enc_key, model=model, tx=txs["recon"], weight=lambda_
            )
            # The same encoder noise as the reconstruction step's (a stochastic encoder's codes
            # after that step), deliberately: the discriminator judges what was reconstructed.
            z = model.apply(
                {"params": state.params}, batch, enc_key, method=models.AdversarialAE.encode
            )
        state, d_aux = phases.discriminator_phase(
            state, z_real, jax.lax.stop_gradient(z), condition, model=model, tx=txs["disc"]
        )
        if self.config.update_scheme == "three_phase":
            state, gen_loss = phases.generator_phase(
                state, batch, gen_key, condition, model=model, tx=txs["gen"], weight=1.0 - lambda_
            )
        metrics = TrainMetrics.single_from_model_output(
            recon_loss=recon_loss,
            gen_loss=gen_loss,
            ae_loss=lambda_ * recon_loss + (1.0 - lambda_) * gen_loss,
            disc_loss=d_aux["disc_loss"],
            disc_accuracy=d_aux["accuracy"],
        )
        return state.replace(step=state.step + 1), metrics

    def example_metrics(self, params, images_u8: ImagesU8, key: jax.Array) -> dict[str, PerImage]:
        """{"recon_loss"}: each image's mean squared error on [-1, 1] pixels (z = the mean)."""
        del key
        return self._metrics_and_means(params, images_u8)[0]

    def example_metrics_and_codes(self, params, images_u8: ImagesU8, key: jax.Array):
        """example_metrics and sample_codes: one encoder pass for a deterministic encoder (its
        codes are the ones reconstructed); a stochastic one's codes are drawn apart."""
        if self.config.stochastic_encoder:
            return super().example_metrics_and_codes(params, images_u8, key)
        return self._metrics_and_means(params, images_u8)

    def _metrics_and_means(self, params, images_u8: ImagesU8) -> tuple[dict, Codes]:
        x = self.preprocess(images_u8)
        recon_x, z = self.model.apply({"params": params}, x)
        return {"recon_loss": jnp.mean((x - recon_x) ** 2, axis=(1, 2, 3))}, z

    def encode(self, params, images_u8: ImagesU8) -> Codes:
        x = self.preprocess(images_u8)
        return self.model.apply({"params": params}, x, method=models.AdversarialAE.encode)

    def sample_codes(self, params, images_u8: ImagesU8, key: jax.Array) -> Codes:
        """The codes the discriminator sees: drawn from q(z|x) for a stochastic encoder."""
        x = self.preprocess(images_u8)
        key = key if self.config.stochastic_encoder else None
        return self.model.apply({"params": params}, x, key, method=models.AdversarialAE.encode)

    def decode(self, params, z: Codes) -> UnitImages:
        x = self.model.apply({"params": params}, z, method=models.AdversarialAE.decode)
        return (x + 1.0) / 2.0

    def sample_grids(self, params, key: jax.Array, num: int) -> dict[str, UnitImages]:
        """{"samples": decoded prior draws}; a prior with regions adds "samples_by_region":
        SAMPLES_PER_REGION draws of each region, a row each."""
        grids = {"samples": sampling.sample_images(self.model, params, key, num)}
        if self.prior.num_regions:
            regions = jnp.repeat(jnp.arange(self.prior.num_regions), SAMPLES_PER_REGION)
            z = self.prior.sample_for_labels(jax.random.fold_in(key, 1), regions)
            x = self.model.apply({"params": params}, z, method=models.AdversarialAE.decode)
            grids["samples" + run_files.BY_REGION] = x
        return {tag: (x + 1.0) / 2.0 for tag, x in grids.items()}


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the AAE of `config` in `workdir` (resuming a run there); the final row."""
    return AAETrainer(config).train_and_evaluate(workdir, fresh)
