"""AAE training: `AAETrainer`, what the AAE adds to the shared loop (common/trainer.py).

    python scripts/train_aae.py --config configs/aae.py --workdir runs/aae

One state holds the three networks' params and one optimizer state per phase; each phase
differentiates only its own networks (aae/phases.py), so the others stay bit-identical. Update
schemes (`config.update_scheme`):
- "combined" (the course template's): (a) encoder + decoder on
  lambda_ * recon + (1 - lambda_) * gen (one Adam; in `train_step`), then (b) the discriminator
  on the codes of (a).
- "three_phase" (the AAE paper's, the assignment's section 2.2): a reconstruction step of encoder +
  decoder, a discriminator step, then a generator step of the encoder alone. Each phase has its
  own Adam, whose step does not change when its loss is scaled, so lambda_ weighs the phases'
  *updates* instead: the reconstruction step is scaled by lambda_, the generator step by
  1 - lambda_ (as a learning rate would be). lambda_ = 1 leaves the encoder to reconstruction
  alone.
"""

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from clu import metrics as clu_metrics

from aae import losses, models, phases, sampling
from common import config_rules, input_pipeline, pictures, run_files, trainer

OPTIMIZERS = ("adam", "sgd")


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
        ylabel="loss",
        keys=(
            "train_recon_loss",
            "val_recon_loss",
            "train_gen_loss",
            "train_disc_loss",
            "train_disc_accuracy",
        ),
        final="test_recon_loss",
    )
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
    }

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        self.txs = make_optimizers(config)

    def make_model(self) -> models.AdversarialAE:
        c = self.config
        return models.AdversarialAE(
            num_filters=c.num_filters,
            z_dim=c.z_dim,
            disc_hidden=c.disc_hidden,
            stochastic=c.stochastic_encoder,
            conv_impl=c.conv_impl,
        )

    def create_train_state(self, key: jax.Array) -> phases.AAEState:
        """The three networks' params initialised from `key`, one optimizer state per phase."""
        x = jnp.zeros((1, *input_pipeline.IMAGE_SHAPE), jnp.float32)
        params = self.model.init(key, x, method=models.AdversarialAE.initialize)["params"]
        opt_states = {
            p: tx.init({name: params[name] for name in phases.PHASE_NETWORKS[p]})
            for p, tx in self.txs.items()
        }
        return phases.AAEState(step=jnp.zeros((), jnp.int32), params=params, opt_states=opt_states)

    def preprocess(self, images_u8: jax.Array) -> jax.Array:
        return input_pipeline.to_tanh_range(images_u8)

    def train_step(self, state: phases.AAEState, batch: jax.Array, key: jax.Array):
        """One AAE step in the order of config.update_scheme (see the module docstring).

        Args:
          state: the train state.
          batch: [B, 28, 28, 1] float32 in [-1, 1].
          key: PRNG key (encoder noise if stochastic, prior samples).

        Returns:
          (new state, TrainMetrics of this batch).
        """
        model, txs, lambda_ = self.model, self.txs, self.config.lambda_
        enc_key, prior_key, gen_key = jax.random.split(key, 3)
        if self.config.update_scheme == "combined":

            def loss_fn(params):  # Eq. 15: lambda_ * recon + (1 - lambda_) * gen
                recon_x, z = model.apply({"params": params}, batch, enc_key)
                d_fake = model.apply(
                    {"params": params}, z, method=models.AdversarialAE.discriminate
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
            state, jax.lax.stop_gradient(z), prior_key, model=model, tx=txs["disc"]
        )
        if self.config.update_scheme == "three_phase":
            state, gen_loss = phases.generator_phase(
                state, batch, gen_key, model=model, tx=txs["gen"], weight=1.0 - lambda_
            )
        metrics = TrainMetrics.single_from_model_output(
            recon_loss=recon_loss,
            gen_loss=gen_loss,
            ae_loss=lambda_ * recon_loss + (1.0 - lambda_) * gen_loss,
            disc_loss=d_aux["disc_loss"],
            disc_accuracy=d_aux["accuracy"],
        )
        return state.replace(step=state.step + 1), metrics

    def example_metrics(self, params, images_u8: jax.Array, key: jax.Array):
        """{"recon_loss": [B]}: mean squared error per image on [-1, 1] pixels (z = the mean)."""
        del key
        x = self.preprocess(images_u8)
        recon_x, _ = self.model.apply({"params": params}, x)
        return {"recon_loss": jnp.mean((x - recon_x) ** 2, axis=(1, 2, 3))}

    def encode(self, params, images_u8: jax.Array) -> jax.Array:
        x = self.preprocess(images_u8)
        return self.model.apply({"params": params}, x, method=models.AdversarialAE.encode)

    def sample_codes(self, params, images_u8: jax.Array, key: jax.Array) -> jax.Array:
        """The codes the discriminator sees: drawn from q(z|x) for a stochastic encoder."""
        x = self.preprocess(images_u8)
        key = key if self.config.stochastic_encoder else None
        return self.model.apply({"params": params}, x, key, method=models.AdversarialAE.encode)

    def decode(self, params, z: jax.Array) -> jax.Array:
        x = self.model.apply({"params": params}, z, method=models.AdversarialAE.decode)
        return (x + 1.0) / 2.0

    def sample_grids(self, params, key: jax.Array, num: int) -> dict[str, jax.Array]:
        """{"samples": decoded z ~ N(0, I), [num, 28, 28, 1] float32 in [0, 1]}."""
        return {"samples": (sampling.sample_images(self.model, params, key, num) + 1.0) / 2.0}


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the AAE of `config` in `workdir` (resuming a run there); the final row."""
    return AAETrainer(config).train_and_evaluate(workdir, fresh)
