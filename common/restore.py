"""Restoring a trained model from a workdir in a fresh process (for scripts and notebooks)."""

from __future__ import annotations

import importlib
import json
import os

import jax
import ml_collections

from common import checkpoint
from common.errors import CheckpointError
from common.train_loop import CONFIG_FILE

# Fields added to the configs after runs were saved without them, with the value that reproduces
# those runs: conv_impl only picks how the convolutions are computed (the same function).
ADDED_FIELDS = {"conv_impl": "auto"}


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The workdir's config.json, with ADDED_FIELDS filled in where an older run lacks them."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise CheckpointError(f"{workdir} holds no run ({CONFIG_FILE} is missing)")
    with open(path) as f:
        return ml_collections.ConfigDict(ADDED_FIELDS | json.load(f))


def trainer_module(config: ml_collections.ConfigDict):
    """The package's train module for config.model ('vae' -> vae.train, 'aae' -> aae.train)."""
    if config.model not in ("vae", "aae"):
        raise CheckpointError(f"unknown model kind {config.model!r} in the workdir's config")
    return importlib.import_module(f"{config.model}.train")


def restore_run(workdir: str, epoch: int | None = None):
    """Returns (config, train module, restored state, epoch) of `epoch` (None = latest).

    Raises:
      CheckpointError: no run, or no checkpoint of that epoch (the message lists those that exist).
    """
    workdir = os.path.abspath(workdir)
    config = load_config(workdir)
    module = trainer_module(config)
    if not os.path.isdir(checkpoint.checkpoint_dir(workdir)):
        raise CheckpointError(f"{workdir} holds no checkpoints")
    manager = checkpoint.make_manager(workdir, read_only=True)
    if epoch is None:
        epoch = manager.latest_step()
        if epoch is None:
            raise CheckpointError(f"{workdir} holds no checkpoints")
    target = module.create_train_state(config, jax.random.key(0))
    state, _ = checkpoint.restore(manager, epoch, target)
    manager.close()
    return config, module, state, epoch
