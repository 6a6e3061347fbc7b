"""The resume handshake (`start`): a workdir's run resumes from its newest checkpoint that
restores if the config may continue it (the same DATA_FIELDS, the same train state's arrays;
other optimizer settings or more epochs are fine). Damaged newer checkpoints are set aside and
the metric rows cut back to the epoch resumed from, so each epoch is recorded once.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import ml_collections
from absl import logging

from common import config_rules, parallel
from common.errors import ConfigError
from common.train import checkpoint, metric_writer, run_files
from common.train import workdir as workdir_lib
from common.train.checkpoint import Progress

# Config fields a run cannot resume with other values that its train state does not show: the
# data, the seed, the AAE's prior and which of its images keep their labels, and how many
# labelled images the semi-supervised AAE learns from. Fields that shape
# the state (z_dim, num_filters, the update scheme, the optimizers, ...) are found by comparing
# the state itself (check_state).
DATA_FIELDS = (
    "model",
    "data.name",
    "data.dir",
    "data.split_seed",
    "data.limit",
    "seed",
    "prior.name",
    "prior.labelled_share",
    "num_labels",
)

_WAY_OUT = "use another --workdir, or --fresh to start over there"


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        if part not in node:
            return None
        node = node[part]
    return node


def check_data_fields(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Raises ConfigError when the workdir's run has other DATA_FIELDS than `config`."""
    saved = workdir_lib.load_config(workdir)
    for field in DATA_FIELDS:
        old, new = _get(saved, field), _get(config, field)
        if field == "data.dir" and old and new:  # the same folder, however it was written
            old, new = (os.path.abspath(os.path.expanduser(d)) for d in (old, new))
        if old != new:
            raise ConfigError(
                f"{workdir} holds a run with {field}={old!r}, but this config has "
                f"{field}={new!r}; {_WAY_OUT}"
            )


def check_state(config: ml_collections.ConfigDict, workdir: str, state_shapes: Any) -> None:
    """ConfigError, naming the config fields and first arrays that differ, when the newest
    readable checkpoint's metadata has other array paths, shapes or dtypes than `state_shapes`
    (jax.eval_shape of `config`'s state)."""
    diffs = checkpoint.differences(workdir, state_shapes)
    if not diffs:
        return
    old, new = flatten_config(workdir_lib.load_config(workdir)), flatten_config(config)
    fields = [
        f"{f} {old.get(f)!r} -> {new.get(f)!r}"
        for f in sorted(old.keys() | new.keys())
        if old.get(f) != new.get(f)
    ]
    raise ConfigError(
        f"{workdir} holds a run whose train state this config cannot restore: fields that "
        f"differ: {', '.join(fields) or 'none'}; arrays that differ ({diffs}); {_WAY_OUT}"
    )


def flatten_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """{"data.limit": 0, ...} as config.json holds it (tuples as lists)."""
    return config_rules.flatten(json.loads(config.to_json_best_effort()))


def prepare(
    config: ml_collections.ConfigDict, workdir: str, state_shapes: Any, fresh: bool = False
) -> bool:
    """Checks the workdir against `config` (every process), then writes config.json (the
    first): True to resume. Call it holding the workdir's `lock`. ConfigError, with nothing
    written: the workdir holds a run this config cannot resume."""
    main = parallel.is_main_process()
    for stray in checkpoint.strays(workdir) if not fresh else ():
        # A folder or file named like a checkpoint that is none: never counted as an epoch.
        moved = checkpoint.set_aside(workdir, stray) if main else "damaged_checkpoints/"
        logging.warning("checkpoints/%s is not a checkpoint: moved it to %s.", stray, moved)
    parallel.sync("stray checkpoint folders set aside")
    resume = workdir_lib.has_run(workdir) and not fresh
    if resume:
        trained = checkpoint.epochs(workdir)[-1]
        if config.num_epochs < trained:
            raise ConfigError(
                f"{workdir} holds a run trained to epoch {trained}, more than this config's "
                f"num_epochs={config.num_epochs}; {_WAY_OUT}"
            )
    if resume and os.path.exists(os.path.join(workdir, run_files.CONFIG)):
        check_data_fields(config, workdir)
        check_state(config, workdir, state_shapes)
    parallel.sync("workdir checked")  # every process has read the workdir before it changes
    if main:
        if fresh:
            workdir_lib.clear(workdir)
        os.makedirs(workdir, exist_ok=True)
        workdir_lib.write_config(config, workdir)
    parallel.sync("workdir prepared")
    return resume


class Start(NamedTuple):
    """Where a run starts: its state, its progress and whether it resumed an earlier run."""

    state: Any
    progress: Progress
    resumed: bool


def start(config: ml_collections.ConfigDict, workdir: str, state: Any, fresh: bool) -> Start:
    """`prepare`, then restores the run into `state` (a fresh train state: structure, dtypes,
    shardings). Hold the workdir's lock. ConfigError as `prepare`; CheckpointError: none of
    its checkpoints restores."""
    resumed = prepare(config, workdir, state, fresh)
    progress = Progress()
    if resumed:  # the newest checkpoint that restores; newer damaged ones set aside
        state, progress, _ = checkpoint.restore_workdir(workdir, state, set_aside_damaged=True)
    if parallel.is_main_process():
        metric_writer.cut_back(workdir, progress.epoch if resumed else None)
    return Start(state, progress, resumed)
