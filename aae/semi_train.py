"""Semi-supervised classification and clustering with an AAE: `SemiAAETrainer`.

    python scripts/train_aae.py --config aae_semi_100 --workdir runs/aae_semi_100

Makhzani et al. 2015 (arXiv 1511.05644), sections 5-6: the encoder gives a class y (softmax) and
a style z, the decoder rebuilds the image from both, one discriminator imposes a categorical
prior on y and another a Gaussian on z. Each batch runs (a) reconstruction, (b) the
discriminators then the encoder as their generator, (c) cross-entropy of q(y|x) on a labelled
mini-batch; `config.task` (semi_phases.TASKS) picks "semi_supervised" (a, b, c), "clustering"
(a, b: no label seen in training; y read as K clusters, each labelled by the validation image it
is surest of, for the test error too) or "supervised" (c: the baseline). The paper's MNIST test
error: 1.90 / 1.60 / 0.85 % with 100 / 1,000 / all labels (Table 2); 9.55 / 4.10 % with 16 / 30
clusters (Table 3). Its networks are fully connected; ours convolutional (aae/semi_models.py).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metrics as clu_metrics

from aae import semi_metrics, semi_models, semi_phases, semi_pictures
from aae.phases import AAEState
from common import config_rules, input_pipeline, plotting, shapes
from common.errors import ConfigError, DataError
from common.train import pictures, run_files, run_setup, trainer

Model = semi_models.SemiSupervisedAAE
OPTIMIZERS = ("adam", "sgd")
NUM_LABELS = semi_metrics.NUM_LABELS  # the digits: what a task with labels classifies
LABELLED_FOLD = 2**31 - 1  # fold_in(keys.shuffle, this) picks the labelled images: no epoch's key
STYLE_ROWS = 10  # fixed style draws z of the style grid, one row each
CLUSTER_COLUMNS = 10  # images per cluster in the cluster grid


class LabelledSet(NamedTuple):
    """The labelled training images every classification step draws from (on the devices)."""

    images: np.ndarray  # uint8 [L, 28, 28, 1]
    labels: np.ndarray  # int32 [L] in 0..9


# ----------------------------------------------------------------------------- train metrics


def _averages(*names: str) -> dict[str, type[clu_metrics.Metric]]:
    """clu's average over an epoch's steps of each of these outputs of the step."""
    return {name: clu_metrics.Average.from_output(name) for name in names}


# A task's train metrics average what its phases' steps give: the classification's (class_loss in
# nats, class_error in % of the labelled mini-batch before its step) and the two adversarial
# phases' (all the clustering has).
_CLASSIFY = _averages("class_loss", "class_error")
_CLUSTER = _averages(
    "recon_loss",
    "disc_style_loss",
    "disc_style_accuracy",
    "disc_class_loss",
    "disc_class_accuracy",
    "gen_style_loss",
    "gen_class_loss",
    "gen_class_balance",
)
TRAIN_METRICS = {
    "semi_supervised": clu_metrics.Collection.create(**_CLUSTER, **_CLASSIFY),
    "clustering": clu_metrics.Collection.create(**_CLUSTER),
    "supervised": clu_metrics.Collection.create(**_CLASSIFY),
}


# ----------------------------------------------------------------------------- pure helpers


def labelled_subset(
    labels: np.ndarray, num_labels: int, num_classes: int, key: jax.Array
) -> np.ndarray:
    """Sorted int32 indices of the training images that keep their labels: num_labels //
    num_classes of each class of `labels` (int [N]), drawn with `key`; num_labels 0: all N.
    DataError: a class has fewer images than its share."""
    if num_labels == 0:
        return np.arange(len(labels), dtype=np.int32)
    per_class = num_labels // num_classes
    order = np.asarray(jax.random.permutation(key, len(labels)))
    picked = []
    for k in range(num_classes):
        of_class = order[labels[order] == k][:per_class]
        if len(of_class) < per_class:
            raise DataError(
                f"{num_labels} labels of {num_classes} classes need {per_class} images of "
                f"class {k}, and the training split has {len(of_class)}"
            )
        picked.append(of_class)
    return np.sort(np.concatenate(picked)).astype(np.int32)


@functools.partial(jax.jit, static_argnames="fn")
def _over_batches(fn, params, images_u8, idx):
    return jax.lax.map(lambda batch_idx: fn(params, images_u8[batch_idx]), idx)


def over_split(fn, params, images_u8: np.ndarray, batch_size: int) -> np.ndarray:
    """fn(params, uint8 batch) -> [B, D] over a whole split in compiled batches: [N, D] numpy."""
    idx, _ = input_pipeline.eval_batches(len(images_u8), min(batch_size, len(images_u8)))
    out = _over_batches(fn, params, images_u8, idx)
    return np.asarray(out).reshape(-1, out.shape[-1])[: len(images_u8)]


# ----------------------------------------------------------------------------- the trainer


class SemiAAETrainer(trainer.Trainer):
    """The paper's semi-supervised classifier, its clustering, or their baseline (config.task)."""

    kind = "aae_semi"
    train_metrics = TRAIN_METRICS["semi_supervised"]  # the task's own, set in __init__
    monitor = "val_error"
    curves = pictures.Curves(
        file=run_files.ERROR_CURVE,
        title="semi-supervised AAE per epoch",
        panels=(
            pictures.Panel(
                "classification error (%)",
                (("train_class_error", "labelled mini-batches"), ("val_error", "validation")),
                final=("test_error", "test, best validation epoch"),
            ),
            pictures.Panel(
                "reconstruction MSE",
                (
                    ("train_recon_loss", "train (mean over the epoch)"),
                    ("val_recon_loss", "validation"),
                ),
            ),
            pictures.Panel(
                "discriminator accuracy",
                (
                    ("train_disc_style_accuracy", "style z"),
                    ("train_disc_class_accuracy", "class y"),
                ),
            ),
        ),
    )
    sample_texts = {"samples": "decoded draws of z ~ N(0, I) with a uniform one-hot y, (x + 1) / 2"}
    rules = {
        **trainer.Trainer.rules,
        "task": config_rules.one_of(semi_phases.TASKS),
        "num_classes": config_rules.integer(2),
        "num_labels": config_rules.integer(0),
        "labelled_batch_size": config_rules.integer(1),
        "input_noise_std": config_rules.real(0.0),
        "class_balance_weight": config_rules.real(0.0),
        "disc_hidden": config_rules.integer(1),
        "optimizers.*.name": config_rules.one_of(OPTIMIZERS),
        "optimizers.*.learning_rate": config_rules.POSITIVE,
        "optimizers.*.b1": config_rules.BETA,
        "optimizers.*.b2": config_rules.BETA,
        "optimizers.*.momentum": config_rules.real(0.0, 1.0, open_high=True),
        "optimizers.*.warmup_steps": config_rules.integer(0),
        "optimizers.*.decay_steps": config_rules.integers(1),
        "optimizers.*.decay_factor": config_rules.real(0.0, 1.0, open_low=True),
    }

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        self.phases = semi_phases.TASKS[config.task]
        self.train_metrics = TRAIN_METRICS[config.task]
        self.txs = semi_phases.make_optimizers(config)

    @classmethod
    def validate_config(cls, config: ml_collections.ConfigDict) -> None:
        """The rules, then an optimizer per phase; with labels, 10 classes and as many labels
        of each. ConfigError names the field."""
        super().validate_config(config)
        task = config.task
        for phase in semi_phases.TASKS[task]:
            if phase not in config.optimizers:
                raise ConfigError(f"config.task={task!r} needs config.optimizers.{phase}")
        if "classify" not in semi_phases.TASKS[task]:
            return
        if config.num_classes != NUM_LABELS:
            raise ConfigError(
                f"config.num_classes={config.num_classes}: config.task={task!r} classifies the "
                f"{NUM_LABELS} digits; set it to {NUM_LABELS} (other counts: task='clustering')"
            )
        if config.num_labels % config.num_classes:
            raise ConfigError(
                f"config.num_labels={config.num_labels} must be a multiple of "
                f"config.num_classes={config.num_classes} (as many labels of each class), or 0 "
                "for every training image"
            )

    def make_model(self) -> Model:
        c = self.config
        return Model(
            num_filters=c.num_filters,
            z_dim=c.z_dim,
            num_classes=c.num_classes,
            disc_hidden=c.disc_hidden,
            conv_impl=c.conv_impl,
        )

    def train_context(
        self, data: input_pipeline.Dataset, keys: run_setup.Keys
    ) -> LabelledSet | None:
        """The labelled images each classification step draws its mini-batch from, the same in
        every epoch and resumed session (key folded from the shuffle key); None for clustering.
        DataError: the data has no labels (clustering scores with them). ConfigError: more
        labels than training images. Logs one warning for learning-rate drops the run never
        reaches (late_decay_steps)."""
        c = self.config
        if data.train_labels is None or data.val_labels is None:
            uses = "scores its clusters with" if c.task == "clustering" else "trains on"
            raise DataError(
                f"{data.describe()}: config.task={c.task!r} {uses} the labels "
                "(the train-labels-idx1-ubyte file), and the data has none"
            )
        num_steps = c.num_epochs * (len(data.train_images) // c.batch_size)
        late = semi_phases.late_decay_steps(c, num_steps)
        if late:  # the configs count full MNIST's steps; a smaller data set takes fewer
            logging.warning(
                "The learning-rate drops at step %s never happen: this run has %d steps (%d "
                "epochs of %d images); set config.optimizers.*.decay_steps for this data",
                ", ".join(map(str, late)),
                num_steps,
                c.num_epochs,
                len(data.train_images),
            )
        if "classify" not in self.phases:
            return None
        num = len(data.train_images)
        if c.num_labels > num:
            raise ConfigError(
                f"config.num_labels={c.num_labels} is more than the {num} training images "
                f"({data.describe()}); lower it, or 0 for all of them"
            )
        key = jax.random.fold_in(keys.shuffle, LABELLED_FOLD)
        idx = labelled_subset(data.train_labels, c.num_labels, c.num_classes, key)
        return LabelledSet(data.train_images[idx], data.train_labels[idx].astype(np.int32))

    def create_train_state(self, key: jax.Array) -> AAEState:
        """The four networks' params initialised from `key`, one optimizer state per phase."""
        x = jnp.zeros((1, *shapes.IMAGE_SHAPE), jnp.float32)
        params = self.model.init(key, x, method=Model.initialize)["params"]
        opt_states = {
            p: tx.init({name: params[name] for name in semi_phases.PHASE_NETWORKS[p]})
            for p, tx in self.txs.items()
        }
        return AAEState(step=jnp.zeros((), jnp.int32), params=params, opt_states=opt_states)

    def preprocess(self, images_u8: shapes.ImagesU8) -> shapes.TanhImages:
        return input_pipeline.to_tanh_range(images_u8)

    def add_noise(self, key: jax.Array, x: shapes.TanhImages) -> jax.Array:
        """x plus Gaussian noise of config.input_noise_std (0: none): the encoder's training
        input; the reconstruction's target stays x."""
        std = self.config.input_noise_std
        if not std:
            return x
        return x + std * jax.random.normal(key, x.shape, x.dtype)

    def train_step(
        self,
        state: AAEState,
        batch: shapes.TanhImages,
        key: jax.Array,
        labels=None,
        context: LabelledSet | None = None,
    ):
        """The task's phases in order on an unlabelled `batch`: (state, the task's metrics).
        `labels` is always None; `context` is `train_context`'s labelled set."""
        del labels
        c, model, txs = self.config, self.model, self.txs
        noise_key, style_key, class_key, pick_key, labelled_noise_key = jax.random.split(key, 5)
        x_in = self.add_noise(noise_key, batch)
        out = {}
        if "recon" in self.phases:
            state, aux = semi_phases.reconstruction_phase(
                state, x_in, batch, model=model, tx=txs["recon"]
            )
            out.update(aux)
        if "disc" in self.phases:
            # The codes after the reconstruction step, as the paper's phases run in turn.
            logits, z = model.apply({"params": state.params}, x_in, method=Model.encode)
            num = batch.shape[0]
            state, aux = semi_phases.discriminator_phase(
                state,
                self.prior.sample(style_key, num),
                jax.lax.stop_gradient(z),
                semi_models.sample_categorical(class_key, num, c.num_classes),
                jax.lax.stop_gradient(jax.nn.softmax(logits)),
                model=model,
                tx=txs["disc"],
            )
            out.update(aux)
        if "gen" in self.phases:
            state, aux = semi_phases.generator_phase(
                state, x_in, model=model, tx=txs["gen"], balance_weight=c.class_balance_weight
            )
            out.update(aux)
        if "classify" in self.phases:
            idx = jax.random.randint(pick_key, (c.labelled_batch_size,), 0, context.labels.shape[0])
            x_labelled = self.add_noise(labelled_noise_key, self.preprocess(context.images[idx]))
            state, aux = semi_phases.classification_phase(
                state, x_labelled, context.labels[idx], model=model, tx=txs["classify"]
            )
            out.update(aux)
        metrics = self.train_metrics.single_from_model_output(**out)
        return state.replace(step=state.step + 1), metrics

    # ------------------------------------------------------------------------- evaluation

    def example_metrics(self, params, images_u8: shapes.ImagesU8, key: jax.Array):
        """{"recon_loss": PerImage}: MSE on [-1, 1] pixels of the clean image (the supervised
        baseline's decoder is never trained)."""
        del key
        x = self.preprocess(images_u8)
        recon_x, _ = self.model.apply({"params": params}, x)
        return {"recon_loss": jnp.mean((x - recon_x) ** 2, axis=(1, 2, 3))}

    def class_probabilities(self, params, images_u8: shapes.ImagesU8) -> jax.Array:
        """q(y|x): float32 [B, num_classes]."""
        x = self.preprocess(images_u8)
        logits, _ = self.model.apply({"params": params}, x, method=Model.encode)
        return jax.nn.softmax(logits)

    def probabilities_of(self, params, images_u8: np.ndarray) -> np.ndarray:
        """q(y|x) of a whole split: [N, num_classes] numpy."""
        return over_split(self.class_probabilities, params, images_u8, self.config.eval_batch_size)

    def assignment(
        self, params, data: input_pipeline.Dataset, val_probs: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Clustering: int32 [K], each cluster's label from the validation q(y|x) (`val_probs`,
        computed when None). Other tasks: None (class k is label k)."""
        if self.config.task != "clustering":
            return None
        if val_probs is None:
            val_probs = self.probabilities_of(params, data.val_images)
        return semi_metrics.assign_clusters(val_probs, data.val_labels)

    def labelled_metrics(self, params, data: input_pipeline.Dataset, split: str) -> dict:
        """{"error": % of the split mislabelled}, clustering adds "clusters_used" (clusters
        that are some image's most probable); {} for a split without labels."""
        split_images, split_labels = {
            "val": (data.val_images, data.val_labels),
            "test": (data.test_images, data.test_labels),
        }[split]
        if split_images is None or split_labels is None:
            return {}
        probs = self.probabilities_of(params, split_images)
        assignment = self.assignment(params, data, probs if split == "val" else None)
        predicted = semi_metrics.predict(probs, assignment)
        metrics = {"error": semi_metrics.error_percent(predicted, split_labels)}
        if self.config.task == "clustering":
            metrics["clusters_used"] = float(len(np.unique(np.argmax(probs, -1))))
        return metrics

    # ------------------------------------------------------------------------- codes, pictures

    def encode(self, params, images_u8: shapes.ImagesU8) -> shapes.Codes:
        """The decoder's code (z, q(y|x)): float32 [B, z_dim + num_classes]."""
        x = self.preprocess(images_u8)
        logits, z = self.model.apply({"params": params}, x, method=Model.encode)
        return semi_models.code(z, jax.nn.softmax(logits))

    def sample_codes(self, params, images_u8: shapes.ImagesU8, key: jax.Array) -> shapes.Codes:
        """The style z [B, z_dim]: what the Gaussian prior is matched with."""
        del key
        return self.encode(params, images_u8)[:, : self.config.z_dim]

    def decode(self, params, codes: shapes.Codes) -> shapes.UnitImages:
        """Codes (z, y) [B, z_dim + num_classes] -> images."""
        x = self.model.apply({"params": params}, codes, method=Model.decode)
        return (x + 1.0) / 2.0

    @property
    def matches_prior(self) -> bool:
        return "gen" in self.phases  # the baseline has no adversary

    def class_names(self, params, data: input_pipeline.Dataset) -> tuple[str, ...]:
        """Each class's name, "y = k"; a cluster's, "cluster c: label l" with the label it
        takes from the validation split (`assignment`)."""
        assignment = self.assignment(params, data)
        if assignment is None:
            return tuple(f"y = {k}" for k in range(self.config.num_classes))
        return tuple(f"cluster {c}: label {label}" for c, label in enumerate(assignment))

    def sample_grids(self, params, key: jax.Array, num: int) -> dict[str, shapes.UnitImages]:
        """{"samples": decoded draws of z ~ N(0, I) with a uniform one-hot y}."""
        style_key, class_key = jax.random.split(key)
        codes = semi_models.code(
            self.prior.sample(style_key, num),
            semi_models.sample_categorical(class_key, num, self.config.num_classes),
        )
        return {"samples": self.decode(params, codes)}

    def style_grid(self, params, key: jax.Array) -> shapes.UnitImages:
        """[STYLE_ROWS * K] images: row r decodes style z_r (from `key`), column k with y = k."""
        k = self.config.num_classes
        z = self.prior.sample(key, STYLE_ROWS)
        codes = semi_models.code(
            jnp.repeat(z, k, axis=0), jnp.tile(jnp.eye(k, dtype=jnp.float32), (STYLE_ROWS, 1))
        )
        return self.decode(params, codes)

    def model_pictures(self, params, data: input_pipeline.Dataset, key: jax.Array):
        """The style grid; with labels on the shown split (test, else val), its confusion
        matrix; clustering also a row of each cluster's surest images, with its label."""
        k, task = self.config.num_classes, self.config.task
        grid = np.asarray(jax.jit(self.style_grid)(params, key))
        what = f"{STYLE_ROWS} style draws z (rows) decoded with each class y = 0..{k - 1} (columns)"
        out = {run_files.STYLE_GRID: (plotting.make_grid(grid, nrow=k), what)}
        shown = pictures.Shown.of(data)
        if shown.labels is None:
            return out
        probs = self.probabilities_of(params, shown.images)
        assignment = self.assignment(params, data, probs if shown.split == "val" else None)
        predicted = semi_metrics.predict(probs, assignment)
        error = semi_metrics.error_percent(predicted, shown.labels)
        out[run_files.CONFUSION_MATRIX] = (
            semi_pictures.confusion_figure(
                semi_metrics.confusion_matrix(shown.labels, predicted),
                f"{task}, K {k}: {shown.split} error {error:.2f}%",
            ),
            None,  # a rendered figure with its own title
        )
        if assignment is not None:
            surest = semi_metrics.surest(probs, CLUSTER_COLUMNS)  # [K, columns]
            sizes = semi_metrics.cluster_sizes(probs)  # an unused cluster's row says so
            out[run_files.CLUSTER_GRID] = (
                semi_pictures.labelled_rows(
                    shown.images[surest] / 255.0,
                    [
                        f"{c}: label {label}, {size} images" if size else f"{c}: unused"
                        for c, (label, size) in enumerate(zip(assignment, sizes, strict=True))
                    ],
                    f"each cluster's surest {shown.split} images",
                ),
                None,
            )
        return out


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, fresh: bool = False
) -> dict[str, float]:
    """Trains the semi-supervised AAE of `config` in `workdir` (resuming a run there)."""
    return SemiAAETrainer(config).train_and_evaluate(workdir, fresh)
