"""What the thin entry points in scripts/ share: flags, logging and one-line errors."""

from __future__ import annotations

import contextlib
import logging as logging_std
import os
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

    with _usage_errors():  # config_flags reads the file and the overrides in argv right here
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


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing (app.run's `flags_parser`), usage errors one line and exit code 2.

    Usage errors: an unknown or malformed flag, a value a flag's validator refuses, a config file
    that is missing or does not load, a config field that does not exist or gets a value of
    another type (`--config.z_dim=2.5`). The config file is loaded here, inside the check.
    """
    with _usage_errors():
        rest = flags.FLAGS(argv)
        if "config" in flags.FLAGS:
            path = flags.FLAGS["config"].config_filename
            if not os.path.isfile(path):
                raise OSError(f"the config file {path} does not exist")
            # config_flags reports a file that fails to load only when the config is used.
            flags.FLAGS["config"].value.to_dict()
        return rest


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """Turns what goes wrong reading the command line or the config file into one line, exit 2."""
    try:
        yield
        return
    except flags.Error as e:  # the first line, and the last (the cause) when there are several
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        message = lines[0] + (f" {lines[-1]}" if len(lines) > 1 else "")
    except SyntaxError as e:
        message = f"the config file {e.filename} does not parse: line {e.lineno}: {e.msg}"
    except (KeyError, AttributeError) as e:
        while e.args and isinstance(e.args[0], Exception):  # ConfigDict wraps its KeyError
            e = e.args[0]
        text = " ".join(str(e.args[0] if e.args else e).split())
        known = isinstance(e, KeyError) or "Did you mean" in text
        message = f"unknown config field {text}" if known else f"cannot load the config: {text}"
    except (OSError, ImportError, TypeError, ValueError) as e:
        message = " ".join(str(e).split())
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/jax_vae_aae/xla (XDG_CACHE_HOME defaults to ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jax_vae_aae", "xla")


def enable_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache, so a second run compiles nothing.

    The cache lives in $JAX_COMPILATION_CACHE_DIR when that is set (`off` turns the cache off),
    else in `default_cache_dir()`. Every program is cached, however quickly it compiled: the
    many small ones (evaluation, pictures) add up to seconds of start-up.

    Returns:
      The cache folder, or None when it is off.
    """
    import jax

    path = os.environ.get(CACHE_ENV) or default_cache_dir()
    if path == "off":
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # No size cap: JAX's capped cache needs `filelock`, and it fails every write in a folder
    # that holds entries written without the cap (by another program, or an older version of
    # this one). The entries are small: about 3 MB after the 40 runs of the report.
    return path


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
