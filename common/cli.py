"""What the thin entry points in scripts/ share: flags, logging and one-line errors."""

from __future__ import annotations

import contextlib
import logging as logging_std
import sys
from collections.abc import Iterator

from absl import flags, logging

from common.errors import Interrupted, UserError


def define_train_flags(default_config: str):
    """Defines --config (a locked ml_collections config file), --workdir, --fresh, --distributed.

    Returns:
      The --config flag holder (`.value` is the ConfigDict, overrides applied).
    """
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


def start_distributed_if_asked() -> None:
    """jax.distributed.initialize() when --distributed was given; before any other JAX call."""
    if flags.FLAGS.distributed:
        import jax

        jax.distributed.initialize()  # arguments from the cluster's environment


class _QuietLibraries(logging_std.Filter):
    """Drops orbax's per-save INFO chatter (dozens of lines per checkpoint) and warnings."""

    def filter(self, record: logging_std.LogRecord) -> bool:
        return "/orbax/" not in record.pathname or record.levelno >= logging_std.ERROR


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Runs the body; a UserError ends the process with its one-line message and a non-zero code.

    Exit codes: 1 for errors, 128 + signal number when SIGTERM / SIGINT stopped training. Any
    other exception is a bug and keeps its traceback.
    """
    logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
        yield
    except Interrupted as e:
        logging.warning("%s", e)
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
