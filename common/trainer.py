"""The training loop both models share: `Trainer.train_and_evaluate`, read top to bottom.

A model subclasses `Trainer` and supplies, as named methods, only what differs: its model and
train state, the train step (where the loss is), the per-image evaluation, and how to encode,
decode and sample for the pictures (vae/train.py: VAETrainer, aae/train.py: AAETrainer).
Everything else is here once: data, PRNG keys, the device mesh, the compiled epoch, evaluation,
the workdir and resuming, checkpoints, metrics, pictures at the sample epochs, signals and
non-finite checks, and the final test on the best epoch.

Metric names: `train_*` (means over an epoch's steps), `val_*` (the model after the epoch, on
the validation split), `test_*` (the final row); one scheme for both models.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import functools
import json
import os
import signal
import time
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from clu import metrics as clu_metrics
from clu import parameter_overview

from common import (
    checkpoint,
    config_rules,
    images,
    input_pipeline,
    latents,
    nets,
    parallel,
    train_utils,
)
from common import workdir as workdir_lib
from common.errors import CheckpointError, ConfigError, DataError, Interrupted
from common.metric_writer import MetricWriter

CODE_IMAGES = 1000  # validation images whose codes are compared with N(0, I) every epoch
INTERPOLATION_STEPS = 10  # columns of interpolation.png


class Keys(NamedTuple):
    """The run's PRNG keys by purpose, all split once from config.seed."""

    init: jax.Array  # parameters
    train: jax.Array  # step keys: fold_in(train, step)
    shuffle: jax.Array  # epoch order: fold_in(shuffle, epoch)
    eval: jax.Array  # evaluation z samples: fold_in(eval, epoch)
    sample: jax.Array  # the fixed prior draws of the sample grids


@dataclasses.dataclass(frozen=True)
class Curves:
    """The per-epoch plot a trainer draws from metrics.jsonl."""

    file: str  # e.g. "bpd_curve.png"
    title: str
    ylabel: str
    keys: tuple[str, ...]  # metrics.jsonl keys, one curve each
    final: str  # key of the final row drawn as a horizontal line (e.g. "test_bpd")


@dataclasses.dataclass(frozen=True)
class Headline:
    """The number that sums a run up (the report's columns), and the per-epoch table."""

    metric: str  # without its split prefix: "bpd", "recon_loss"
    text: str  # what it is, e.g. "bpd (negative ELBO)"
    fmt: str  # e.g. ".3f"
    table: tuple[str, ...]  # metrics.jsonl keys of the report's per-epoch table


class Trainer(abc.ABC):
    """Trains one model kind from a config; subclasses supply the model-specific methods.

    Attributes (class level, set by each subclass):
      kind: the `config.model` this trainer trains ("vae", "aae").
      train_metrics: the clu Collection `train_step` returns per batch.
      monitor: metric (lower is better) that selects the best checkpoint, or None (the last).
      curves, headline: what the per-epoch plot and the report show.
    """

    kind: ClassVar[str]
    train_metrics: ClassVar[type[clu_metrics.Collection]]
    monitor: ClassVar[str | None] = None
    curves: ClassVar[Curves]
    headline: ClassVar[Headline]
    # What each config field may hold; subclasses add their own fields' rules.
    rules: ClassVar[dict[str, config_rules.Rule]] = {
        "seed": config_rules.integer(0),
        "z_dim": config_rules.integer(1),
        "num_filters": config_rules.integer(1),
        "conv_impl": config_rules.one_of(nets.IMPLS),
        "batch_size": config_rules.integer(1),
        "num_epochs": config_rules.integer(0),
        "data.name": config_rules.one_of(input_pipeline.DATASETS),
        "data.limit": config_rules.integer(0),
        "data.split_seed": config_rules.integer(0),
        "eval_batch_size": config_rules.integer(1),
        "checkpoint_every": config_rules.integer(1),
        "checkpoint_epochs": config_rules.integers(0),
        "sample_epochs": config_rules.integers(0),
        "num_samples": config_rules.integer(1),
    }

    def __init__(self, config: ml_collections.ConfigDict):
        """Validates `config` (ConfigError names the first bad field) and builds the model."""
        self.validate_config(config)
        self.config = config
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

    @abc.abstractmethod
    def make_model(self) -> nn.Module:
        """The flax module of self.config."""

    @abc.abstractmethod
    def create_train_state(self, key: jax.Array) -> Any:
        """A fresh train state (params, optimizer states, `step`) initialised from `key`."""

    @abc.abstractmethod
    def preprocess(self, images: jax.Array) -> jax.Array:
        """uint8 [B, 28, 28, 1] in 0..255 -> the model's input (inside the compiled step)."""

    @abc.abstractmethod
    def train_step(self, state: Any, batch: jax.Array, key: jax.Array):
        """One optimisation step: (state, preprocessed batch, key) -> (state, train_metrics)."""

    @abc.abstractmethod
    def example_metrics(self, params: Any, images: jax.Array, key: jax.Array) -> dict:
        """uint8 [B, 28, 28, 1] -> {name: [B] float32}, per image; evaluation means them."""

    @abc.abstractmethod
    def encode(self, params: Any, images: jax.Array) -> jax.Array:
        """uint8 [B, 28, 28, 1] -> the codes [B, z_dim] float32 (the mean of q(z|x))."""

    def sample_codes(self, params: Any, images: jax.Array, key: jax.Array) -> jax.Array:
        """uint8 [B, 28, 28, 1] -> codes [B, z_dim] drawn from q(z|x) with `key`: what the
        prior is matched with. A deterministic encoder's are its codes (the default)."""
        del key
        return self.encode(params, images)

    @abc.abstractmethod
    def decode(self, params: Any, z: jax.Array) -> jax.Array:
        """z [B, z_dim] -> the mean image [B, 28, 28, 1] float32 in [0, 1]."""

    @abc.abstractmethod
    def sample_grids(self, params: Any, key: jax.Array, num: int) -> dict[str, jax.Array]:
        """Samples of the model from `key`: {"samples": [num, 28, 28, 1] in [0, 1], ...}.

        Each entry is written as samples/epoch_N{name minus "samples"}.png at the sample epochs.
        """

    def write_final_pictures(self, params: Any, shown: tuple, workdir: str, writer) -> None:
        """The model's own pictures of its final state (e.g. the VAE's manifold); none by default.

        Args:
          shown: (uint8 images, labels or None, split name) of the test split (validation
            without one).
        """
        del params, shown, workdir, writer

    # ------------------------------------------------------------------------- the loop

    def train_and_evaluate(self, workdir: str, fresh: bool = False) -> dict[str, float]:
        """Trains for config.num_epochs, resuming from `workdir` when it holds a run.

        Returns:
          The final row: the test split's means of `example_metrics` (`test_*`; none without a
          test set) of the best epoch (the last without a monitor), and `best_epoch`.

        Raises:
          ConfigError, DataError, WorkdirBusy, CheckpointError (nothing restores),
          NonFiniteError, Interrupted (after saving a checkpoint).
        """
        config = self.config
        workdir = os.path.abspath(workdir)

        # ---------------------------------------------------------------------- data
        # Before the workdir: bad data writes nothing. Process 0 first: it downloads what is
        # missing, the other processes then read its cache.
        load = functools.partial(input_pipeline.load_dataset, config.data)
        data = parallel.main_first(load, "loading the data")
        logging.info("Data: %s", data.describe())
        if len(data.val_images) < 2:  # the codes' covariance needs two
            raise DataError(
                f"{data.describe()}: the validation split needs at least 2 images; use more data"
            )
        shown = (  # what the pictures show: (images, labels, split)
            (data.test_images, data.test_labels, "test")
            if data.test_images is not None
            else (data.val_images, data.val_labels, "val")
        )

        # ---------------------------------------------------------------------- keys and mesh
        self.setup_devices(len(data.train_images))  # checks the batch against data and devices

        # ---------------------------------------------------------------------- the workdir
        with contextlib.ExitStack() as held:  # released however the run ends
            held.enter_context(workdir_lib.lock(workdir))  # a second run here stops at once
            create_state = jax.jit(self.create_train_state)  # one compile, not one per op
            shapes = jax.eval_shape(create_state, self.keys.init)
            resume = workdir_lib.prepare(config, workdir, shapes, fresh)

            # ------------------------------------------------------------------ state, functions
            state = parallel.replicate(create_state(self.keys.init), self.mesh)
            logging.info("\n%s", parameter_overview.get_parameter_overview(state.params))
            train_images = parallel.replicate(data.train_images, self.mesh)
            train_epoch = jax.jit(self.train_epoch, donate_argnums=0)
            val_eval = self.evaluator(data.val_images)
            examples = images.pick_examples(*shown[:2])
            self.prepare_pictures(examples, data.val_images[:CODE_IMAGES])

            # ------------------------------------------------------------------ resume
            meta = {"epoch": 0, "best_epoch": None, "best_value": None}
            if resume:
                state, meta = self.restore_for_resume(workdir, state)
            milestones = [e for e in config.checkpoint_epochs if e <= config.num_epochs]
            manager = checkpoint.make_manager(workdir, milestones, self.monitor)
            held.callback(manager.close)
            held.callback(manager.wait_until_finished)  # (callbacks run last first)
            writer = MetricWriter(
                workdir, meta["epoch"] if resume else None, enabled=parallel.is_main_process()
            )
            held.callback(writer.close)
            if not resume:
                writer.write_hparams(config.to_dict())

                # -------------------------------------------------------------- epoch 0
                metrics = {  # the untrained model
                    **_prefixed("val_", val_eval(state.params, 0)),
                    **_prefixed("val_", self.code_statistics(state.params)),
                    "seconds": 0.0,
                }
                self._end_epoch(0, state, metrics, meta, manager, writer, milestones)
                self.write_epoch_pictures(state.params, 0, workdir, writer)

            # ------------------------------------------------------------------ the loop
            start_epoch, start_time = meta["epoch"], time.perf_counter()
            with train_utils.stop_requests() as stop:
                for epoch in range(start_epoch + 1, config.num_epochs + 1):
                    t0 = time.perf_counter()
                    state, train_metrics = train_epoch(state, train_images, epoch)
                    train_metrics = _prefixed("train_", jax.device_get(train_metrics))
                    seconds = time.perf_counter() - t0
                    train_utils.check_finite(epoch, train_metrics, manager.latest_step())
                    val_metrics = _prefixed("val_", val_eval(state.params, epoch))
                    val_metrics.update(_prefixed("val_", self.code_statistics(state.params)))
                    train_utils.check_finite(epoch, val_metrics, manager.latest_step())
                    metrics = {**train_metrics, **val_metrics, "seconds": seconds}
                    self._end_epoch(epoch, state, metrics, meta, manager, writer, milestones)
                    self.write_epoch_pictures(state.params, epoch, workdir, writer)
                    elapsed = time.perf_counter() - start_time
                    logging.info(
                        train_utils.progress_line(
                            epoch,
                            config.num_epochs,
                            metrics,
                            self.images_per_epoch,
                            elapsed,
                            epoch - start_epoch,
                        )
                    )
                    # All processes stop together (a signal may reach only some hosts).
                    stopping = parallel.any_process(stop["signum"] is not None)
                    if stopping and epoch < config.num_epochs:
                        signum = stop["signum"] or signal.SIGTERM  # the hosts the signal missed
                        if manager.latest_step() != epoch:
                            value = metrics.get(self.monitor) if self.monitor else None
                            checkpoint.save(
                                manager,
                                epoch,
                                state,
                                meta,
                                None if value is None else {self.monitor: value},
                            )
                        raise Interrupted(
                            f"stopped by signal {signum} after epoch {epoch}, checkpoint saved; "
                            "run the same command again to resume",
                            signum,
                        )

            # ------------------------------------------------------------------ test, best epoch
            best_state = state
            if self.monitor and meta["best_epoch"] not in (None, meta["epoch"]):
                try:
                    best_state, _ = checkpoint.restore(manager, meta["best_epoch"], state)
                except Exception as e:  # damaged since it was written: test the last epoch
                    logging.warning(
                        "Checkpoint of the best epoch %d does not restore (%s); testing the "
                        "last epoch's model instead.",
                        meta["best_epoch"],
                        checkpoint.describe_error(e),
                    )
                    meta["best_epoch"] = meta["epoch"]
            final = {}
            if data.test_images is not None:
                final = _prefixed("test_", self.evaluator(data.test_images)(best_state.params))
            else:
                logging.warning("No test set (t10k-only data): no test numbers.")
            if self.monitor:
                final["best_epoch"] = meta["best_epoch"]
            writer.write_final(meta["epoch"], final)
            self.write_curves(workdir, writer.history())
            self._write_final_pictures(best_state.params, shown, workdir, writer)
        logging.info("Done: %s", json.dumps(final))
        return final

    # ------------------------------------------------------------------------- pieces of the loop

    def restore_for_resume(self, workdir: str, target: Any) -> tuple[Any, dict]:
        """The newest checkpoint that restores, as (state, meta); damaged newer ones are set aside.

        A checkpoint that fails to restore is reported in one warning line (its epoch and why)
        and moved to damaged_checkpoints/; training resumes from the next older one, and the
        metric writer cuts metrics.jsonl back to it.
        """
        manager = checkpoint.make_manager(workdir, read_only=True)
        state, meta, epoch, damaged = checkpoint.restore_newest(manager, target)
        manager.close()
        for bad, reason in damaged:
            logging.warning("Checkpoint of epoch %d does not restore (%s).", bad, reason)
            if parallel.is_main_process():
                moved = checkpoint.set_aside(workdir, bad)
                logging.warning("Moved it to %s; resuming from epoch %d.", moved, epoch)
        parallel.sync("damaged checkpoints set aside")
        logging.info("Resuming %s from epoch %d.", workdir, meta["epoch"])
        return state, meta

    def setup_devices(self, num_train_images: int) -> None:
        """Splits the PRNG keys from config.seed and builds the mesh over all devices.

        Raises:
          ConfigError: fewer images than one batch, or a batch the devices cannot split evenly.
        """
        batch_size = self.config.batch_size
        if num_train_images < batch_size:
            raise ConfigError(
                f"only {num_train_images} training images, fewer than one batch of {batch_size}; "
                "lower batch_size or raise data.limit"
            )
        self.mesh = parallel.make_mesh()
        parallel.check_batch_size(batch_size, self.mesh)
        self.batch_sharding = parallel.batch_sharded(self.mesh)
        self.keys = Keys(*jax.random.split(jax.random.key(self.config.seed), len(Keys._fields)))
        self.images_per_epoch = (num_train_images // batch_size) * batch_size

    def train_epoch(self, state: Any, images: jax.Array, epoch: jax.Array):
        """One epoch as one `lax.scan` of `train_step` over shuffled batches (jit it once).

        The order of batches is a function of (keys.shuffle, epoch) and each step's key is
        fold_in(keys.train, state.step), so a resumed run draws exactly what an uninterrupted one
        does.

        Args:
          state: the train state.
          images: [N, 28, 28, 1] uint8 on the devices, the training split.
          epoch: int scalar (traced: one compilation serves every epoch).

        Returns:
          (new state, {metric name: epoch mean}).
        """
        batches = input_pipeline.epoch_batches(
            self.keys.shuffle, epoch, images.shape[0], self.config.batch_size
        )

        def step(carry, idx):
            state, metrics = carry
            batch = jax.lax.with_sharding_constraint(
                self.preprocess(images[idx]), self.batch_sharding
            )
            key = jax.random.fold_in(self.keys.train, state.step)
            state, batch_metrics = self.train_step(state, batch, key)
            return (state, metrics.merge(batch_metrics)), None

        (state, metrics), _ = jax.lax.scan(step, (state, self.train_metrics.empty()), batches)
        return state, metrics.compute()

    def evaluator(self, images_u8: np.ndarray) -> Evaluator:
        """`example_metrics` means over `images_u8`, compiled, the images kept on the devices."""
        return Evaluator(
            self.example_metrics, images_u8, self.config.eval_batch_size, self.keys.eval, self.mesh
        )

    def prepare_pictures(self, examples: tuple, code_images: np.ndarray) -> None:
        """Compiles the picture and code functions.

        Args:
          examples: (uint8 [8, 28, 28, 1] images, labels or None), reconstructed at the sample
            epochs and interpolated between at the end.
          code_images: uint8 [N, 28, 28, 1], whose codes are compared with N(0, I) every epoch.
        """
        self.examples = examples
        self._sample_grids = jax.jit(self.sample_grids, static_argnums=2)
        self._reconstruct = jax.jit(self.reconstruct)
        self._decode = jax.jit(self.decode)
        self._encode = jax.jit(self.encode)
        self.code_images = parallel.replicate(code_images, self.mesh)
        # Fixed draws of the prior and of the codes, from the evaluation key folded with numbers
        # no epoch reaches: every epoch compares the same noise.
        prior_key = jax.random.fold_in(self.keys.eval, 2**31 - 1)
        self.prior_codes = jax.random.normal(prior_key, (len(code_images), self.config.z_dim))
        self.code_key = jax.random.fold_in(self.keys.eval, 2**31 - 2)
        self._code_statistics = jax.jit(self.compare_codes)

    def compare_codes(self, params: Any, images_u8: jax.Array, key: jax.Array, prior_z) -> dict:
        """latents.code_statistics of codes of `images_u8` (sample_codes) against `prior_z`."""
        return latents.code_statistics(self.sample_codes(params, images_u8, key), prior_z)

    def code_statistics(self, params: Any) -> dict[str, float]:
        """How far the validation codes (CODE_IMAGES of them) are from N(0, I): code_mmd, ..."""
        out = self._code_statistics(params, self.code_images, self.code_key, self.prior_codes)
        return {k: float(v) for k, v in jax.device_get(out).items()}

    def write_epoch_pictures(self, params: Any, epoch: int, workdir: str, writer) -> None:
        """At the sample epochs: sample grids of the fixed prior draws (keys.sample), and the
        examples over their reconstructions; every epoch: the curves."""
        if epoch in self.config.sample_epochs:
            grids = self._sample_grids(params, self.keys.sample, self.config.num_samples)
            for name, imgs in grids.items():
                path = os.path.join(
                    workdir, "samples", f"epoch_{epoch}{name[len('samples') :]}.png"
                )
                images.write_grid(imgs, path, writer, name, epoch)
            x = self.examples[0]
            pairs = np.concatenate([x / 255.0, np.asarray(self._reconstruct(params, x))])
            path = os.path.join(workdir, "reconstructions", f"epoch_{epoch}.png")
            images.write_grid(pairs, path, writer, "reconstructions", epoch, nrow=len(x))
        self.write_curves(workdir, writer.history())

    def reconstruct(self, params: Any, images_u8: jax.Array) -> jax.Array:
        """uint8 [B, 28, 28, 1] -> decoded codes [B, 28, 28, 1] float32 in [0, 1]."""
        return self.decode(params, self.encode(params, images_u8))

    def write_curves(self, workdir: str, history: list[dict]) -> None:
        rows = [r for r in history if "epoch" in r]
        final = next((r for r in history if "epoch" not in r), {})
        curves = {
            key: ([r["epoch"] for r in rows if key in r], [r[key] for r in rows if key in r])
            for key in self.curves.keys
        }
        hline = self.curves.final
        images.save_curves(
            os.path.join(workdir, self.curves.file),
            curves,
            ylabel=self.curves.ylabel,
            title=self.curves.title,
            hlines={hline: final[hline]} if hline in final else None,
        )

    def _write_final_pictures(
        self, params: Any, shown: tuple, workdir: str, writer: MetricWriter
    ) -> None:
        """The interpolation grid (rows: example pairs 0 -> 1, 2 -> 3, ...; columns: the decoded
        codes on the straight line between theirs), the latent scatter (z_dim 2) of the test set
        (validation without one), then the model's own pictures (`write_final_pictures`)."""
        shown_images, shown_labels, split = shown
        # Pairs (0, 1), (2, 3), ... of the examples (the first digit of each label 0..7).
        z = np.asarray(self._encode(params, self.examples[0]))
        path = latents.interpolate(z[0::2], z[1::2], INTERPOLATION_STEPS)
        decoded = np.asarray(self._decode(params, path.reshape(-1, z.shape[-1])))
        images.write_grid(
            decoded,
            os.path.join(workdir, "interpolation.png"),
            writer,
            "interpolation",
            self.config.num_epochs,
            nrow=INTERPOLATION_STEPS,
        )
        if self.config.z_dim == 2:
            z = batched(self._encode, params, shown_images)
            images.write_latent_scatter(
                os.path.join(workdir, "latent_scatter.png"),
                z,
                shown_labels,
                f"{self.kind}: codes of the {split} images, z_dim 2",
            )
        self.write_final_pictures(params, shown, workdir, writer)

    def _end_epoch(self, epoch, state, metrics, meta, manager, writer, milestones) -> None:
        """Records an epoch: its metrics row, the best so far, and a checkpoint when it is time."""
        writer.write_scalars(epoch, metrics)
        value = metrics.get(self.monitor) if self.monitor else None
        if value is not None and (meta["best_value"] is None or value < meta["best_value"]):
            meta.update(best_epoch=epoch, best_value=value)
        meta["epoch"] = epoch
        if train_utils.is_checkpoint_epoch(
            epoch,
            every=self.config.checkpoint_every,
            last=self.config.num_epochs,
            milestones=milestones,
            best=meta["best_epoch"],
        ):
            metric = None if value is None else {self.monitor: value}
            checkpoint.save(manager, epoch, state, meta, metric)

    # ------------------------------------------------------------------------- restoring

    @classmethod
    def restore(cls, workdir: str, epoch: int | None = None) -> tuple[Trainer, Any, int]:
        """A trainer of the workdir's config and its state at `epoch` (None: the latest).

        Returns:
          (trainer, state, epoch).

        Raises:
          CheckpointError: no run, another model kind, or no checkpoint of that epoch (the
            message lists those that exist).
        """
        workdir = os.path.abspath(workdir)
        config = workdir_lib.load_config(workdir)
        if config.model != cls.kind:
            raise CheckpointError(f"{workdir} holds a {config.model!r} run, not a {cls.kind!r} one")
        trainer = cls(config)
        if not workdir_lib.has_run(workdir):
            raise CheckpointError(f"{workdir} holds no checkpoints")
        manager = checkpoint.make_manager(workdir, read_only=True)
        target = jax.jit(trainer.create_train_state)(jax.random.key(0))  # one compile
        try:
            if epoch is None:  # the newest that restores, a warning for each newer one
                state, _, epoch, damaged = checkpoint.restore_newest(manager, target)
                for bad, reason in damaged:
                    logging.warning("Checkpoint of epoch %d does not restore (%s).", bad, reason)
                return trainer, state, epoch
            try:
                state, _ = checkpoint.restore(manager, epoch, target)
            except CheckpointError:
                raise
            except Exception as e:  # damaged: the newest of the others may do
                raise CheckpointError(
                    f"the checkpoint of epoch {epoch} in {workdir} does not restore "
                    f"({checkpoint.describe_error(e)}); try another --epoch, or none"
                ) from None
            return trainer, state, epoch
        finally:
            manager.close()


class Evaluator:
    """Compiled means of a per-image function over one fixed image set, kept on the devices.

    The last batch is padded and masked, so the means are exact for any number of images.
    Evaluators of equally many images share one compiled program (`evaluate_means`).
    """

    def __init__(self, example_fn, images_u8: np.ndarray, batch_size: int, key, mesh):
        # Round the batch up to a multiple of the devices; padding is masked out anyway.
        batch_size = -(-min(batch_size, len(images_u8)) // mesh.size) * mesh.size
        idx, mask = input_pipeline.eval_batches(len(images_u8), batch_size)
        self.images, self.idx, self.mask = parallel.replicate((images_u8, idx, mask), mesh)
        self.key = key
        self.example_fn = example_fn
        self.batch_sharding = parallel.batch_sharded(mesh)

    def __call__(self, params: Any, epoch: int = 0) -> dict[str, float]:
        """Means over the image set; z samples (if any) keyed by fold_in(key, epoch)."""
        key = jax.random.fold_in(self.key, epoch)
        out = evaluate_means(
            params,
            self.images,
            self.idx,
            self.mask,
            key,
            example_fn=self.example_fn,
            batch_sharding=self.batch_sharding,
        )
        return {k: float(v) for k, v in jax.device_get(out).items()}


@functools.partial(jax.jit, static_argnames=("example_fn", "batch_sharding"))
def evaluate_means(params, images, idx, mask, key, *, example_fn, batch_sharding):
    """{name: float32 mean over the images} of example_fn; batch i draws fold_in(key, i).

    Args:
      params: the model's parameters.
      images: [N, 28, 28, 1] uint8; idx, mask: [num_batches, batch] from eval_batches.
      key: PRNG key.
      example_fn: (params, uint8 batch, key) -> {name: [batch] float32}.
      batch_sharding: how a batch is split over the devices.
    """

    def body(sums, xs):
        i, batch_idx, batch_mask = xs
        batch = jax.lax.with_sharding_constraint(images[batch_idx], batch_sharding)
        values = example_fn(params, batch, jax.random.fold_in(key, i))
        w = batch_mask.astype(jnp.float32)
        return {k: sums[k] + jnp.sum(values[k] * w) for k in sums}, None

    shapes = jax.eval_shape(example_fn, params, images[idx[0]], key)
    zeros = {k: jnp.zeros((), jnp.float32) for k in shapes}
    sums, _ = jax.lax.scan(body, zeros, (jnp.arange(idx.shape[0]), idx, mask))
    count = jnp.sum(mask)
    return {k: s / count for k, s in sums.items()}


def batched(fn, params: Any, images_u8: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """fn(params, batch) over `images_u8` in batches, concatenated as numpy."""
    out = [
        np.asarray(fn(params, images_u8[i : i + batch_size]))
        for i in range(0, len(images_u8), batch_size)
    ]
    return np.concatenate(out)


def _prefixed(prefix: str, metrics: dict) -> dict[str, float]:
    return {prefix + k: float(v) for k, v in metrics.items()}
