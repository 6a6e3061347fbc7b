"""The resume handshake (`start`): a workdir's run resumes from its newest checkpoint that
restores if the config may continue it (the same DATA_FIELDS, the same train state's arrays;
other optimizer settings or more epochs are fine). Damaged newer checkpoints are set aside and
the metric rows cut back to the epoch resumed from, so each epoch is recorded once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import ml_collections
from jax.sharding import Mesh

from common import config_rules, parallel
from common.errors import CheckpointError, ConfigError
from common.train import checkpoint, metric_writer, run_files
from common.train import workdir as workdir_lib
from common.train.checkpoint import Progress

# Config fields a run cannot resume with other values that its train state does not show: the
# data, the seed, the AAE's prior and which of its images keep their labels, and how many
# labelled images the semi-supervised AAE learns from. Fields that shape
# the state (z_dim, num_filters, the update scheme, the optimizers, ...) are found by comparing
# the state itself (`check`).
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


def check(
    config: ml_collections.ConfigDict,
    saved: ml_collections.ConfigDict | None,
    found: checkpoint.Survey,
    workdir: str,
) -> None:
    """ConfigError when the run in `workdir` (its config.json `saved`, None when missing; its
    checkpoints `found`) cannot go on with `config`: more epochs trained than config.num_epochs,
    other DATA_FIELDS, or a train state of other arrays (the config fields that differ named)."""
    if config.num_epochs < found.epochs[-1]:
        raise ConfigError(
            f"{workdir} holds a run trained to epoch {found.epochs[-1]}, more than this config's "
            f"num_epochs={config.num_epochs}; {_WAY_OUT}"
        )
    if saved is None:  # checkpoints without a config.json: the state's arrays decide
        return
    for field in DATA_FIELDS:
        old, new = _get(saved, field), _get(config, field)
        if field == "data.dir" and old and new:  # the same folder, however it was written
            old, new = (os.path.abspath(os.path.expanduser(d)) for d in (old, new))
        if old != new:
            raise ConfigError(
                f"{workdir} holds a run with {field}={old!r}, but this config has "
                f"{field}={new!r}; {_WAY_OUT}"
            )
    if found.differences:
        old, new = flatten_config(saved), flatten_config(config)
        fields = [
            f"{f} {old.get(f)!r} -> {new.get(f)!r}"
            for f in sorted(old.keys() | new.keys())
            if old.get(f) != new.get(f)
        ]
        raise ConfigError(
            f"{workdir} holds a run whose train state this config cannot restore: fields that "
            f"differ: {', '.join(fields) or 'none'}; arrays that differ ({found.differences}); "
            f"{_WAY_OUT}"
        )


def flatten_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """{"data.limit": 0, ...} as config.json holds it (tuples as lists)."""
    return config_rules.flatten(json.loads(config.to_json_best_effort()))


def prepare(
    config: ml_collections.ConfigDict, workdir: str, state_shapes: Any, fresh: bool = False
) -> bool:
    """Reads the workdir once, checks it against `config` (every process), then makes it this
    config's run (the first process): True to resume. Call it holding the workdir's `lock`.
    ConfigError, with nothing written: the workdir holds a run this config cannot resume."""
    main = parallel.is_main_process()
    # A folder of another program's (its own config.json) is not a run to resume, overwrite or
    # clear with --fresh: every run of this project's writes its config.json first, with "model".
    path = os.path.join(workdir, run_files.CONFIG)
    try:
        saved = workdir_lib.load_config(workdir) if os.path.exists(path) else None
    except CheckpointError as e:  # damaged or unreadable: --fresh replaces it
        if fresh:
            saved = None
        elif checkpoint.epochs(workdir):  # a run's: its own config.json is what it needs back
            raise CheckpointError(f"{e}; put the run's own config.json back") from None
        else:
            raise CheckpointError(f"{e}; --fresh starts a new run there, replacing it") from None
    if saved is not None and "model" not in saved:
        raise ConfigError(
            f"{path} is not a config this project wrote (no 'model' field): choose another "
            "--workdir (its files are left as they were)"
        )
    # What the workdir holds: its checkpoints (stray folders set aside) and its config.
    found = checkpoint.survey(workdir, None if fresh else state_shapes, move_strays=not fresh)
    parallel.sync("stray checkpoint folders set aside")
    resume = bool(found.epochs) and not fresh
    if resume:
        check(config, saved, found, workdir)
    parallel.sync("workdir checked")  # every process has read the workdir before it changes
    if main:
        workdir_lib.make(config, workdir, fresh)
    parallel.sync("workdir prepared")
    return resume


class Start(NamedTuple):
    """Where a run starts: its state, its progress and whether it resumed an earlier run."""

    state: Any
    progress: Progress
    resumed: bool


def start(
    config: ml_collections.ConfigDict,
    workdir: str,
    make_state: Callable[[], Any],
    mesh: Mesh,
    fresh: bool,
) -> Start:
    """`prepare` against the shapes of `make_state()` (a fresh train state: structure, dtypes),
    so a refused config costs no compilation; then that state, replicated over `mesh`, with the
    run restored into it. Hold the workdir's lock. ConfigError as `prepare`; CheckpointError:
    none of its checkpoints restores."""
    resumed = prepare(config, workdir, jax.eval_shape(make_state), fresh)
    state = parallel.replicate(make_state(), mesh)
    progress = Progress()
    if resumed:  # the newest checkpoint that restores; newer damaged ones set aside
        state, progress, _ = checkpoint.restore_workdir(workdir, state, set_aside_damaged=True)
    if parallel.is_main_process():
        metric_writer.cut_back(workdir, progress.epoch if resumed else None)
    return Start(state, progress, resumed)
