"""What the thin entry points in scripts/ share: flags, logging and one-line errors."""

from __future__ import annotations

import logging as logging_std
import sys
from collections.abc import Callable

from absl import flags, logging

from common.errors import Interrupted, UserError


def define_train_flags(default_config: str):
    """Defines --config (a locked ml_collections config file), --workdir and --fresh."""
    from ml_collections import config_flags

    config = config_flags.DEFINE_config_file(
        "config", default_config, "Experiment config file.", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Run directory; running again resumes it.", required=True)
    flags.DEFINE_bool("fresh", False, "Delete the workdir's earlier run and start over.")
    flags.DEFINE_bool(
        "distributed",
        False,
        "Call jax.distributed.initialize() first: one process per host of a TPU pod or GPU "
        "cluster, the batch split over every host's devices (see common/parallel.py).",
    )
    return config


class _QuietLibraries(logging_std.Filter):
    """Drops orbax's per-save INFO chatter (dozens of lines per checkpoint) and warnings."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        return "/orbax/" not in record.pathname or record.levelno >= logging_std.ERROR


def run_or_exit(fn: Callable[[], object]) -> None:
    """Calls fn; a UserError ends the process with its one-line message and a non-zero code.

    Exit codes: 1 for errors, 128 + signal number when SIGTERM / SIGINT stopped training.
    """
    logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
        fn()
    except Interrupted as e:
        logging.warning("%s", e)
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def train_main(trainer: str, default_config: str) -> None:
    """The whole of scripts/train_{vae,aae}.py: flags, then `<trainer>.train_and_evaluate`.

    Args:
      trainer: module with `train_and_evaluate(config, workdir, fresh)`, e.g. "vae.train".
      default_config: path of the config file used when --config is not given.
    """
    import importlib

    from absl import app

    config = define_train_flags(default_config)

    def main(argv):
        del argv
        if flags.FLAGS.distributed:
            import jax

            jax.distributed.initialize()  # before any other JAX call; arguments from the cluster
        module = importlib.import_module(trainer)  # after flag parsing: --help stays fast
        run_or_exit(
            lambda: module.train_and_evaluate(config.value, flags.FLAGS.workdir, flags.FLAGS.fresh)
        )

    app.run(main)
