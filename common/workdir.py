"""A run's directory: what it holds, the checks before a run writes to it, `--fresh`.

A workdir holds one run: `config.json` (the config it was started with), `metrics.jsonl`,
TensorBoard events, `checkpoints/` and the pictures (RUN_FILES lists them all). Running again
with the same workdir resumes the run; `prepare` refuses a config the run cannot resume with
before anything is written.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil

import ml_collections

from common import checkpoint, parallel
from common.errors import CheckpointError, ConfigError

CONFIG_FILE = "config.json"

# Everything a run (and scripts/evaluate_vae.py, scripts/reproduce.py) writes into its workdir:
# `--fresh` removes exactly these, so a fresh run starts from an empty set of artefacts and
# nothing else in the folder is touched.
RUN_FILES = (
    CONFIG_FILE,
    "metrics.jsonl",
    "metrics.jsonl.tmp",
    "events.out.tfevents.*",
    "checkpoints",
    "samples",
    "reconstructions",
    "bpd_curve.png",
    "loss_curve.png",
    "manifold.png",
    "latent_scatter.png",
    "interpolation.png",
    "log_likelihood.json",
    "log_likelihood.md",
    "proposal_variance.png",
    "reproduce.json",
)

# Config fields that shape the model, the parameters or the data: a run cannot resume with
# other values. Everything else (num_epochs, learning rates, ...) may change between runs.
SHAPING_FIELDS = (
    "model",
    "z_dim",
    "num_filters",
    "stochastic_encoder",
    "disc_hidden",
    "data.name",
    "data.dir",
    "data.split_seed",
    "data.limit",
    "seed",
)

# Fields added to the configs after runs were saved without them, with the value that reproduces
# those runs (the one place that knows about older workdirs): conv_impl only picks how the
# convolutions are computed (the same function).
ADDED_FIELDS = {"conv_impl": "auto"}


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The workdir's config.json, with ADDED_FIELDS filled in where an older run lacks them.

    Raises:
      CheckpointError: the workdir holds no run.
    """
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise CheckpointError(f"{workdir} holds no run ({CONFIG_FILE} is missing)")
    with open(path) as f:
        return ml_collections.ConfigDict(ADDED_FIELDS | json.load(f))


def has_run(workdir: str) -> bool:
    """Whether `workdir` holds at least one checkpoint."""
    folder = checkpoint.checkpoint_dir(workdir)
    return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def clear(workdir: str) -> None:
    """Removes everything RUN_FILES names from `workdir` (`--fresh`); other files stay."""
    if not os.path.isdir(workdir):
        return
    for name in os.listdir(workdir):
        if any(fnmatch.fnmatch(name, pattern) for pattern in RUN_FILES):
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        if part not in node:
            return None
        node = node[part]
    return node


def check_resumable(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Raises ConfigError when the workdir's run has other SHAPING_FIELDS than `config`."""
    saved = load_config(workdir)
    for field in SHAPING_FIELDS:
        old, new = _get(saved, field), _get(config, field)
        if old != new:
            raise ConfigError(
                f"{workdir} holds a run with {field}={old!r}, but this config has "
                f"{field}={new!r}; use another --workdir, or --fresh to start over there"
            )


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json atomically (readers never see half a file)."""
    path = os.path.join(workdir, CONFIG_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    os.replace(path + ".tmp", path)


def prepare(config: ml_collections.ConfigDict, workdir: str, fresh: bool = False) -> bool:
    """Checks the workdir against `config`, then writes config.json. Returns True to resume.

    Nothing is written before the checks pass: a refused run leaves the workdir as it was.
    With several processes, every one checks, only the first writes.

    Raises:
      ConfigError: the workdir holds a run this config cannot resume.
    """
    main = parallel.is_main_process()
    resume = has_run(workdir) and not fresh
    if resume and os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        check_resumable(config, workdir)
    parallel.sync("workdir checked")  # every process has read the workdir before it changes
    if main:
        if fresh:
            clear(workdir)
        os.makedirs(workdir, exist_ok=True)
        write_config(config, workdir)
    parallel.sync("workdir prepared")
    return resume
