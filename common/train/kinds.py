"""The model kinds (`config.model`) and their trainers, named "module:Class" and imported when
asked for (so `common/` imports no model package); a trained model back from its workdir
(`restore`; `load`: encode, decode, sample).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import numbers
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from common.errors import CheckpointError, ConfigError
from common.shapes import IMAGE_SHAPE, Codes, ImagesU8, UnitImages
from common.train import checkpoint, run_files
from common.train import workdir as workdir_lib

# config.model -> the Trainer subclass that trains it.
TRAINERS = {
    "vae": "vae.train:VAETrainer",
    "aae": "aae.train:AAETrainer",
    "aae_semi": "aae.semi_train:SemiAAETrainer",
}


def trainer_class(kind: str) -> type:
    """The Trainer subclass of `config.model == kind`; ConfigError for a kind without one."""
    if kind not in TRAINERS:
        raise ConfigError(
            f"config.model={kind!r} is not a model kind of this project ({', '.join(TRAINERS)})"
        )
    return resolve(TRAINERS[kind])


def resolve(spec: str) -> Any:
    """The object a "module:name" string names (a trainer class, an evaluation function)."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def read_config(workdir: str) -> ml_collections.ConfigDict:
    """The workdir's config.json, checked against its kind's rules; CheckpointError (why): no
    run, or not a config of this project's."""
    config = workdir_lib.load_config(workdir)
    path = os.path.join(workdir, run_files.CONFIG)
    try:
        trainer_class(config.get("model")).validate_config(config)
    except ConfigError as e:
        raise CheckpointError(f"{path} is not a config this project wrote ({e})") from None
    return config


def restore(workdir: str, epoch: int | None = None, kind: str | None = None):
    """(trainer, state, epoch) of the workdir's run at `epoch` (None: the newest that restores).
    CheckpointError: no run, another kind than `kind` (None: any), or no such epoch."""
    workdir = os.path.abspath(workdir)
    config = read_config(workdir)
    if kind is not None and config.model != kind:
        raise CheckpointError(f"{workdir} holds a {config.model!r} run, not a {kind!r} one")
    trainer = trainer_class(config.model)(config)
    if not workdir_lib.has_run(workdir):
        raise CheckpointError(f"{workdir} holds no checkpoints")
    target = jax.jit(trainer.create_train_state)(jax.random.key(0))  # one compile
    diffs = checkpoint.differences(workdir, target)
    if diffs:
        raise CheckpointError(
            f"{os.path.join(workdir, run_files.CONFIG)} does not describe the model its "
            f"checkpoints hold (arrays that differ: {diffs}): was it replaced? Put the run's "
            "own config.json back; the checkpoints are untouched"
        )
    state, _, epoch = checkpoint.restore_workdir(workdir, target, epoch)
    return trainer, state, epoch


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained model, its functions compiled, numpy or jax arrays in. Images out are the
    VAE's pixel means / 15, the AAE's (x + 1) / 2; images in may also be [N, 28, 28]."""

    trainer: Any
    params: Any
    epoch: int

    @property
    def config(self) -> ml_collections.ConfigDict:
        return self.trainer.config

    @property
    def kind(self) -> str:
        return self.trainer.kind

    def encode(self, images: ImagesU8) -> Codes:
        """The codes of `images`: the mean of q(z|x) [N, z_dim]; the semi-supervised AAE's are
        (z, q(y|x)) [N, z_dim + num_classes]."""
        return _jitted(self.trainer, "encode")(self.params, _images(images))

    @functools.cached_property
    def code_dim(self) -> int:
        """The width of a code, what `encode` gives and `decode` takes."""
        images = jax.ShapeDtypeStruct((1, *IMAGE_SHAPE), np.uint8)
        return jax.eval_shape(self.trainer.encode, self.params, images).shape[-1]

    def decode(self, z: Codes) -> UnitImages:
        """The mean image of each code [N, code_dim]."""
        shape = np.shape(z)  # (no copy of a device array to the host)
        if len(shape) != 2 or shape[-1] != self.code_dim:
            raise ValueError(f"codes must be [N, {self.code_dim}], got shape {shape}")
        return _jitted(self.trainer, "decode")(self.params, jax.numpy.asarray(z, "float32"))

    def reconstruct(self, images: ImagesU8) -> UnitImages:
        """decode(encode(images)): what the reconstruction grids show."""
        return self.decode(self.encode(images))

    def sample(self, key: jax.Array | int, num: int) -> UnitImages:
        """`num` decoded prior draws from `key` (a PRNG key or a seed), as the grids show them
        (the VAE's drawn 4-bit pixels / 15)."""
        if not isinstance(num, numbers.Integral) or num < 0:
            raise ValueError(f"num must be an integer >= 0, got {num!r}")
        if isinstance(key, int):
            key = jax.random.key(key)
        return self.trainer.sample_grids(self.params, key, int(num))["samples"]


_JITTED: dict[tuple[int, str], Any] = {}


def _jitted(trainer: Any, method: str):
    """One compiled function per trainer and method, kept for later calls."""
    key = (id(trainer), method)
    if key not in _JITTED:
        _JITTED[key] = jax.jit(getattr(trainer, method))
    return _JITTED[key]


def _images(images) -> jax.Array:
    array = np.asarray(images)
    if array.ndim == 3:  # [N, 28, 28]: the channel is implied
        array = array[..., None]
    if array.shape[1:] != IMAGE_SHAPE or array.ndim != 4:
        raise ValueError(
            f"images must be [N, 28, 28, 1] or [N, 28, 28], got shape {np.shape(images)}"
        )
    if array.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 in 0..255 (as the data gives them), got {array.dtype}"
        )
    return jax.numpy.asarray(array)


def load(workdir: str, epoch: int | None = None) -> Model:
    """The trained model of any kind in `workdir` at `epoch` (None: the newest that restores).
    CheckpointError: no run there, or no checkpoint of that epoch."""
    trainer, state, epoch = restore(workdir, epoch)
    return Model(trainer, state.params, epoch)
