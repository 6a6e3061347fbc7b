"""The training loop every model shares: `Trainer.train_and_evaluate`, read top to bottom.

A model subclasses `Trainer` and supplies, as named methods, only what differs (its model and
state, `train_step` where the loss is, per-image metrics, encode / decode / sample for the
pictures); data, keys, devices, the compiled epoch, validation, resuming, checkpoints, metrics,
signals and the final test are here once. Metrics: `train_*` (means over an epoch's steps),
`val_*` (the model after the epoch), `test_*` (the final row, with `seconds_*`: the breakdown).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
import os
import signal
import time
from typing import Any, ClassVar

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging
from clu import metrics as clu_metrics
from clu import parameter_overview

from common import cli, config_rules, input_pipeline, nets, parallel, priors
from common.errors import ConfigError, DataError, Interrupted
from common.shapes import Codes, ImagesU8, Labels, UnitImages
from common.train import helpers, kinds, pictures, resume, validation
from common.train import workdir as workdir_lib
from common.train.recorder import Recorder
from common.train.run_setup import Keys, RunSetup, setup_run

CODE_IMAGES = 1000  # validation images whose codes are compared with the prior every epoch


class Trainer(abc.ABC):
    """Trains one model kind from a config; subclasses supply the model-specific methods."""

    kind: ClassVar[str]  # the config.model it trains
    train_metrics: ClassVar[type[clu_metrics.Collection]]  # what train_step returns per batch
    monitor: ClassVar[str | None] = None  # lower is better: picks the best checkpoint; None: last
    curves: ClassVar[pictures.Curves]
    sample_texts: ClassVar[dict[str, str]] = {}  # sample_grids' keys -> what their pixels are
    rules: ClassVar[dict[str, config_rules.Rule]] = {
        "seed": config_rules.SEED,
        "z_dim": config_rules.integer(1),
        "num_filters": config_rules.integer(1),
        "conv_impl": config_rules.one_of(nets.IMPLS),
        "batch_size": config_rules.integer(1),
        "num_epochs": config_rules.integer(0),
        "data.name": config_rules.one_of(input_pipeline.DATASETS),
        "data.limit": config_rules.integer(0),
        "data.split_seed": config_rules.SEED,
        "eval_batch_size": config_rules.integer(1),
        "checkpoint_every": config_rules.integer(1),
        "checkpoint_epochs": config_rules.integers(0),
        "sample_epochs": config_rules.integers(0),
        "num_samples": config_rules.integer(1),
    }

    def __init__(self, config: ml_collections.ConfigDict):
        """Validates `config` (ConfigError names the first bad field), builds prior and model."""
        self.validate_config(config)
        self.config = config
        self.prior = self.make_prior()
        self.model = self.make_model()

    # ------------------------------------------------------------------------- what a model adds

    @classmethod
    def validate_config(cls, config: ml_collections.ConfigDict) -> None:
        """Raises ConfigError naming the first field `rules` refuses; nothing is written yet."""
        if config.get("model") != cls.kind:
            raise ConfigError(
                f"config.model={config.get('model')!r}: this trainer trains {cls.kind!r}"
            )
        config_rules.check(config, cls.rules)

    def make_prior(self) -> priors.Prior:
        """The prior p(z) the codes are compared with and samples decode: N(0, I) by default."""
        return priors.Gaussian(self.config.z_dim)

    @abc.abstractmethod
    def make_model(self) -> nn.Module:
        """The flax module of self.config (self.prior is built)."""

    @abc.abstractmethod
    def create_train_state(self, key: jax.Array) -> Any:
        """A fresh train state (params, optimizer states, `step`) initialised from `key`."""

    @abc.abstractmethod
    def preprocess(self, images: ImagesU8) -> jax.Array:
        """The model's input (inside the compiled step)."""

    def train_labels(self, data: input_pipeline.Dataset, keys: Keys) -> np.ndarray | None:
        """Per-image labels of the training split the train step receives (label-guided priors),
        or None (the default). DataError: the model needs labels the data lacks."""
        del data, keys
        return None

    def train_context(self, data: input_pipeline.Dataset, keys: Keys) -> Any:
        """A pytree every train step sees whole (as `context`; the semi-supervised AAE's
        labelled images), put on the devices once; or None (the default). ConfigError,
        DataError: the model needs what the data does not have."""
        del data, keys
        return None

    @abc.abstractmethod
    def train_step(self, state: Any, batch: jax.Array, key: jax.Array, labels=None):
        """One optimisation step on the preprocessed batch (and its `train_labels`, or None):
        (state, train_metrics). A trainer with a `train_context` also takes `context=`."""

    @abc.abstractmethod
    def example_metrics(self, params: Any, images: ImagesU8, key: jax.Array) -> dict:
        """{name: PerImage}: what validation and the test take the means of."""

    def example_metrics_and_codes(
        self, params: Any, images: ImagesU8, key: jax.Array
    ) -> tuple[dict, Codes]:
        """example_metrics and `sample_codes` of the same images: what validation computes each
        epoch. Override to share the encoder's pass (this runs it twice)."""
        metrics_key, codes_key = jax.random.split(key)
        codes = self.sample_codes(params, images, codes_key)
        return self.example_metrics(params, images, metrics_key), codes

    def labelled_metrics(self, params: Any, data: input_pipeline.Dataset, split: str) -> dict:
        """{name: float} of the model on split "val" (every epoch) or "test" (at the end) that
        need the labels (a classifier's error); `data` holds every split. None by default."""
        del params, data, split
        return {}

    @abc.abstractmethod
    def encode(self, params: Any, images: ImagesU8) -> Codes:
        """The codes (the mean of q(z|x)), whose first z_dim columns are z (the semi-supervised
        AAE's are (z, y))."""

    def sample_codes(self, params: Any, images: ImagesU8, key: jax.Array) -> Codes:
        """z drawn from q(z|x) with `key`: what the prior is matched with (a deterministic
        encoder's codes, by default)."""
        del key
        return self.encode(params, images)

    @abc.abstractmethod
    def decode(self, params: Any, z: Codes) -> UnitImages:
        """The mean image of each code (as `encode` gives them)."""

    @property
    def matches_prior(self) -> bool:
        """Whether training matches the codes with the prior (the semi-supervised AAE's
        baseline does not: validation leaves out the codes' distance from it)."""
        return True

    def class_names(self, params: Any, data: input_pipeline.Dataset) -> tuple[str, ...]:
        """The names of the classes y a code holds after z, as a one-hot `decode` reads (the
        semi-supervised AAE's); () for codes of z alone (the default)."""
        del params, data
        return ()

    @abc.abstractmethod
    def sample_grids(self, params: Any, key: jax.Array, num: int) -> dict[str, UnitImages]:
        """{"samples": num samples drawn with `key`, "samples{variant}": ...}, each written as
        run_files.samples(epoch, variant)."""

    def model_pictures(
        self, params: Any, data: input_pipeline.Dataset, key: jax.Array
    ) -> dict[str, tuple[np.ndarray, str | None]]:
        """Pictures only this model draws, of its final state: {run_files name: ([H, W, C] image
        in [0, 1], what it shows; None: a rendered figure with its title)} (e.g. the VAE's
        manifold); none by default. `data`: the run's splits; `key`: the same draws each call."""
        del params, data, key
        return {}

    # ------------------------------------------------------------------------- the loop

    def train_and_evaluate(self, workdir: str, fresh: bool = False) -> dict[str, float]:
        """Trains for config.num_epochs, resuming from `workdir` when it holds a run. Returns the
        final row: the best epoch's (the last's without a monitor) `test_*` means (none without
        a test set), `best_epoch` and the `seconds_*` breakdown. Raises the UserErrors a user
        can cause (ConfigError, DataError, WorkdirBusy, CheckpointError, DiskFull,
        NonFiniteError, Interrupted after saving a checkpoint)."""
        config, watch = self.config, helpers.Stopwatch()
        workdir = os.path.abspath(workdir)
        began = time.perf_counter()
        started = cli.take_process_start() or began  # a script: its imports and flags first
        if started < began:
            watch.add("start-up", began - started)

        # ---------------------------------------------------------------------- data
        # Before the workdir: bad data writes nothing. Process 0 first: it downloads what is
        # missing, the other processes then read its cache.
        with watch("data"):
            load = functools.partial(input_pipeline.load_dataset, config.data)
            data = parallel.main_first(load, "loading the data")
        logging.info("Data: %s", data.describe())
        if len(data.val_images) < 2:  # the codes' covariance needs two
            raise DataError(
                f"{data.describe()}: the validation split needs at least 2 images; use more data"
            )

        # ---------------------------------------------------------------------- keys and mesh
        setup = setup_run(config, len(data.train_images))  # checks the batch: data, devices
        labels = self.train_labels(data, setup.keys)  # None, or what the steps see of them
        context = self.train_context(data, setup.keys)  # None, or what every step sees whole

        # ---------------------------------------------------------------------- the workdir
        with workdir_lib.out_of_space_is_one_line(workdir), contextlib.ExitStack() as held:
            held.enter_context(workdir_lib.lock(workdir))  # a second run here stops at once
            with watch("state"):
                make_state = functools.partial(jax.jit(self.create_train_state), setup.keys.init)
                state, progress, resumed = resume.start(
                    config, workdir, make_state, setup.mesh, fresh
                )
                if resumed:
                    logging.info("Resuming %s from epoch %d.", workdir, progress.epoch)
                params = jax.device_get(state.params)  # one transfer, not two per leaf
                logging.info("\n%s", parameter_overview.get_parameter_overview(params))
                train_images = parallel.replicate(data.train_images, setup.mesh)
                labels, context = parallel.replicate((labels, context), setup.mesh)

            # ------------------------------------------------------------------ compiled functions
            validate = validation.Validation(
                self.example_metrics_and_codes,
                data.val_images,
                # Label-guided: how many codes fall in their own label's region of the prior.
                None if labels is None else data.val_labels,
                self.prior,
                config.eval_batch_size,
                setup.keys.eval,
                setup.mesh,
                num_codes=CODE_IMAGES if self.matches_prior else 0,
            )
            with watch("compile"):  # ahead of time, so the epochs' seconds are training alone
                train_epoch = (
                    jax.jit(self.train_epoch, donate_argnums=0)
                    .lower(state, train_images, np.int32(0), setup, labels, context)
                    .compile()
                )
                validate.compile(state.params)

            # ------------------------------------------------------------------ outputs, epoch 0
            out = Recorder(self, data, setup.keys.sample, workdir, progress, resumed, watch)
            held.callback(out.close)
            if not resumed:
                with watch("validation"):
                    metrics = {  # the untrained model
                        **_prefixed("val_", validate(state.params, 0)),
                        **_prefixed("val_", self.labelled_metrics(state.params, data, "val")),
                        "seconds": 0.0,
                    }
                progress = out.end_epoch(0, state, metrics, progress)

            # ------------------------------------------------------------------ the loop
            line_time, epoch_walls = time.perf_counter(), []  # for the time left
            with helpers.stop_requests() as stop:
                for epoch in range(progress.epoch + 1, config.num_epochs + 1):
                    with watch("train"):
                        t0 = time.perf_counter()
                        state, train_metrics = train_epoch(
                            state, train_images, np.int32(epoch), setup, labels, context
                        )
                        train_metrics = _prefixed("train_", jax.device_get(train_metrics))
                        seconds = time.perf_counter() - t0
                    helpers.check_finite(epoch, train_metrics, out.latest_step())
                    with watch("validation"):
                        val_metrics = _prefixed("val_", validate(state.params, epoch))
                        val_metrics.update(
                            _prefixed("val_", self.labelled_metrics(state.params, data, "val"))
                        )
                    helpers.check_finite(epoch, val_metrics, out.latest_step())
                    metrics = {**train_metrics, **val_metrics, "seconds": seconds}
                    progress = out.end_epoch(epoch, state, metrics, progress)
                    now = time.perf_counter()
                    epoch_walls.append(now - line_time)
                    line_time = now
                    logging.info(
                        helpers.progress_line(
                            epoch, config.num_epochs, metrics, setup.images_per_epoch, epoch_walls
                        )
                    )
                    # All processes stop together (a signal may reach only some hosts).
                    stopping = parallel.any_process(stop["signum"] is not None)
                    if stopping and epoch < config.num_epochs:
                        signum = stop["signum"] or signal.SIGTERM  # the hosts the signal missed
                        if out.latest_step() != epoch:
                            out.save(state, progress, metrics)
                        raise Interrupted(
                            f"stopped by signal {signum} after epoch {epoch}, checkpoint saved; "
                            "run the same command again to resume",
                            signum,
                        )

            # ------------------------------------------------------------------ test, best epoch
            best_state, progress = out.best(state, progress)
            final = {}
            with watch("test"):
                if data.test_images is not None:
                    final = _prefixed(
                        "test_", self.evaluator(data.test_images, setup)(best_state.params)
                    )
                    final.update(
                        _prefixed("test_", self.labelled_metrics(best_state.params, data, "test"))
                    )
                else:
                    logging.warning("The data has no test set: no test numbers.")
            if self.monitor:
                final["best_epoch"] = progress.best_epoch
            with watch("pictures"):
                out.pictures.run_end(best_state.params, progress.epoch, final)
            out.finish()
            breakdown = watch.breakdown(time.perf_counter() - started)
            final.update({f"seconds_{phase}": s for phase, s in breakdown.items()})
            out.writer.write_final(progress.epoch, final)
        total = breakdown["total"]
        logging.info("Where the %.1f s went:\n%s", total, helpers.format_breakdown(breakdown))
        logging.info("Done: %s", json.dumps(final))
        return final

    # ------------------------------------------------------------------------- pieces of the loop

    def train_epoch(
        self,
        state: Any,
        images: ImagesU8,
        epoch: jax.Array,
        setup: RunSetup,
        labels: Labels | None = None,
        context: Any = None,
    ):
        """One epoch as one `lax.scan` of `train_step` over shuffled batches: (new state, {metric:
        epoch mean}). `images` (and `labels`, each step gets its batch's; `context` whole) are on
        the devices; `epoch` is traced, so one compilation serves every epoch. The batches'
        order is fold_in(shuffle key, epoch) and each step's key fold_in(train key, step): a
        resumed run draws what an uninterrupted one does."""
        batches = input_pipeline.epoch_batches(
            setup.keys.shuffle, epoch, images.shape[0], self.config.batch_size
        )

        def step(carry, idx):
            state, metrics = carry
            batch = jax.lax.with_sharding_constraint(
                self.preprocess(images[idx]), setup.batch_sharding
            )
            batch_labels = None
            if labels is not None:
                batch_labels = jax.lax.with_sharding_constraint(labels[idx], setup.batch_sharding)
            key = jax.random.fold_in(setup.keys.train, state.step)
            # Trainers without a context keep their four-argument step.
            extra = {} if context is None else {"context": context}
            state, batch_metrics = self.train_step(state, batch, key, batch_labels, **extra)
            return (state, metrics.merge(batch_metrics)), None

        (state, metrics), _ = jax.lax.scan(step, (state, self.train_metrics.empty()), batches)
        return state, metrics.compute()

    def evaluator(self, images_u8: np.ndarray, setup: RunSetup) -> validation.Evaluator:
        """`example_metrics` means over `images_u8`, compiled, the images kept on the devices."""
        return validation.Evaluator(
            self.example_metrics,
            images_u8,
            self.config.eval_batch_size,
            setup.keys.eval,
            setup.mesh,
        )

    # ------------------------------------------------------------------------- restoring

    @classmethod
    def restore(cls, workdir: str, epoch: int | None = None) -> tuple[Trainer, Any, int]:
        """(trainer, state, epoch) of a run of this kind at `epoch` (None: the newest that
        restores); CheckpointError names what is missing (common/train/kinds.py)."""
        return kinds.restore(workdir, epoch, kind=cls.kind)


def _prefixed(prefix: str, metrics: dict) -> dict[str, float]:
    return {prefix + k: float(v) for k, v in metrics.items()}
