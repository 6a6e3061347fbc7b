"""What scripts/ share: `run(main)` (absl flags, usage errors in one line with exit 2, `--help`
with the script's own and shared flags), the trainers' flags, configs by name, the compilation
cache and one-line errors.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import importlib.util
import logging as logging_std
import os
import re
import select
import signal
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import NoReturn

from absl import app, flags, logging

from common import files
from common.errors import Interrupted, Terminated, UserError

HELP_FLAGS = ("-h", "--help", "-?", "--helpshort")
# When this process started, on time.perf_counter()'s clock, once a script called `run`: the
# first training loop's breakdown counts the imports and flag parsing before it as "start-up".
_process_started: float | None = None


def take_process_start() -> float | None:
    """When this script's process started (perf_counter clock), once; None afterwards and in a
    process no script started (a notebook)."""
    global _process_started
    started, _process_started = _process_started, None
    return started


_CONFIG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def run(main: Callable[[list[str]], None]) -> None:
    """Runs a script's `main` under absl and `parse_flags`; SIGTERM, like Ctrl-C, stops it with
    one line (the training loop stops at its epoch's end instead)."""
    global _process_started
    _process_started = time.perf_counter() - _process_age()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)

    def guarded(argv: list[str]) -> None:
        with one_line_errors():  # from the first line of `main`: its imports may be stopped too
            # A signal inside numpy's or jax's extension initialisation makes the extension
            # print it and fail: they import with the signals held, which arrive right after.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                import jax  # noqa: F401 (and numpy with it)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            main(argv)

    try:
        app.run(guarded, flags_parser=functools.partial(parse_flags, module=main.__module__))
    except KeyboardInterrupt as e:  # while absl parsed the flags, before `guarded` began
        _exit_stopped(e.signum if isinstance(e, Terminated) else signal.SIGINT)
    except BrokenPipeError:
        if not _stdout_broken():
            raise  # another pipe's: a bug keeps its traceback
        # stdout's reader left (`--help | head`): quiet, as a shell tool. Python flushes stdout
        # again at exit: point it at /dev/null so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)


def _stdout_broken() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll says POLLERR on its writing end);
    True where poll is missing (Windows), as it was before this check existed."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def _process_age() -> float:
    """Seconds since this process started (Linux's /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(uptime - started / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return 0.0


def _stop(signum: int, frame) -> None:
    """Raises KeyboardInterrupt (Ctrl-C) or Terminated (SIGTERM), except inside a gc callback or
    __del__, where Python would print it as "ignored" and carry on: there it re-sends the
    signal 50 ms on."""
    if _swallowing(frame):
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
        return
    _received.append(signum)  # for when an extension's import turns it into something else
    raise_for(signum)


_received: list[int] = []  # the signals `_stop` raised, until one_line_errors reports them


def raise_for(signum: int) -> None:
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def raise_if_signalled() -> None:
    """Raises again for a signal `_stop` raised that something swallowed (an optional import
    catching the ImportError it became inside an extension's initialisation)."""
    if _received:
        raise_for(_received[-1])


def _swallowing(frame) -> bool:
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def config_path(name_or_path: str) -> str:
    """`--config`'s value as a file: a path as given, or a name ("aae_z2") as that file of the
    installed `configs` package (so no clone is needed)."""
    if os.path.isfile(name_or_path) or not _CONFIG_NAME.fullmatch(name_or_path):
        return name_or_path
    spec = importlib.util.find_spec("configs")
    folder = list(spec.submodule_search_locations)[0] if spec else ""
    path = os.path.join(folder, f"{name_or_path}.py")
    return path if os.path.exists(path) else name_or_path


def config_names() -> list[str]:
    """The names `--config` takes: the config files of the installed `configs` package."""
    folder = os.path.dirname(config_path("vae"))
    names = (f[: -len(".py")] for f in os.listdir(folder) if f.endswith(".py"))
    return sorted(n for n in names if not n.startswith("_") and n != "experiments")


def define_train_flags(default_config: str):
    """Defines --config (name or file; locked), --workdir, --data_dir, --fresh, --distributed;
    returns the --config holder (`.value`: the ConfigDict, overrides applied)."""
    from ml_collections import config_flags

    with _usage_errors():  # config_flags reads the file and the overrides in argv right here
        config = config_flags.DEFINE_config_file(
            "config",
            config_path(default_config),
            f"A config's name ({default_config}, ...; see configs/) or a config file; "
            "--config.FIELD=VALUE overrides a field.",
            lock_config=True,
        )
    flags.DEFINE_string("workdir", None, "Run directory; running again resumes it.", required=True)
    flags.DEFINE_string("data_dir", None, "Folder of IDX files (sets config.data.dir).")
    flags.DEFINE_bool("fresh", False, "Delete the workdir's earlier run and start over.")
    flags.DEFINE_bool(
        "distributed",
        False,
        "Call jax.distributed.initialize() first (one process per host of a TPU pod or GPU "
        "cluster).",
    )
    return config


def train_config(holder):
    """The holder's config with --data_dir applied; UserError when it disagrees with the
    config's data.dir."""
    config = holder.value
    data_dir = flags.FLAGS.data_dir
    if data_dir is not None:
        if config.data.dir and os.path.abspath(config.data.dir) != os.path.abspath(data_dir):
            raise UserError(
                f"--data_dir={data_dir} and --config.data.dir={config.data.dir} disagree: give one"
            )
        config.data.dir = data_dir
    return config


def parse_flags(argv: list[str], module: str = "__main__") -> list[str]:
    """app.run's `flags_parser`: `--help` prints `help_text`, exit 0; `--config NAME` becomes
    that config's file; usage errors (a bad, unknown or missing flag, a config file that is
    missing or does not load, an unknown field or a value of another type) are one line, exit 2.
    """
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(help_text(module, argv[0]))
        sys.exit(0)
    argv = [argv[0], *_config_names_to_paths(argv[1:])]
    config_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    with _usage_errors(config_file):
        rest = flags.FLAGS(argv)
        for name in flags.FLAGS:  # `--workdir=` would be the current folder, `--out=` nothing
            flag = flags.FLAGS[name]  # (a config field's override, `--config.x=`, is its own)
            empty = isinstance(flag.value, str) and not flag.value.strip()
            if flag.present and empty and "." not in name:
                raise ValueError(f"--{name} is empty: {flag.help}")
        if "config" in flags.FLAGS:
            path = flags.FLAGS["config"].config_filename
            if not os.path.isfile(path):
                raise OSError(
                    f"the config file {path} does not exist (a name: one of "
                    f"{', '.join(config_names())})"
                )
            # config_flags reports a file that fails to load only when the config is used.
            flags.FLAGS["config"].value.to_dict()
        return rest


def _config_names_to_paths(args: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            out.append(f"--config={config_path(args[i + 1])}")
            i += 2
            continue
        if arg.startswith("--config="):
            arg = f"--config={config_path(arg.split('=', 1)[1])}"
        out.append(arg)
        i += 1
    return out


def help_text(module: str, program: str) -> str:
    """The script's docstring, then one line per flag: its own first, then the shared ones."""
    by_module = flags.FLAGS.flags_by_module_dict()
    own = by_module.get(program if module == "__main__" else module, [])
    shared = by_module.get(__name__, [])
    doc = sys.modules[module].__doc__ or "" if module in sys.modules else ""
    lines = [textwrap.dedent(doc).strip(), ""]
    for title, group in (("flags", own), ("shared flags", shared)):
        if group:
            lines += [f"{title}:"] + [_flag_line(f) for f in sorted(group, key=lambda f: f.name)]
            lines.append("")
    lines.append("--helpfull lists absl's own flags too.")
    return "\n".join(lines)


def _flag_line(flag) -> str:
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    default = flag.default
    if flag.name == "config":
        default = os.path.basename(flag.config_filename).removesuffix(".py")
    if isinstance(default, list):
        default = ",".join(map(str, default))
    tail = " (required)" if default is None and _is_required(flag.name) else ""
    if default not in (None, "") and not tail:
        tail = f" (default: {default})"
    return textwrap.fill(
        f"{flag.help}{tail}", 100, initial_indent=f"  {name:<22} ", subsequent_indent=" " * 25
    )


def _is_required(name: str) -> bool:
    validators = getattr(flags.FLAGS[name], "validators", [])
    return any("must have a value other than None" in (v.message or "") for v in validators)


@contextlib.contextmanager
def _usage_errors(config_file: str | None = None) -> Iterator[None]:
    """Turns what goes wrong reading the command line or the config file into one line, exit 2:
    any exception raised by the code of `config_file` (the user's --config) too."""
    try:
        yield
        return
    except flags.Error as e:  # the first line, and the last (the cause) when there are several
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        message = lines[0] + (f" {lines[-1]}" if len(lines) > 1 else "")
        missing = re.fullmatch(
            r"flag --(\w+)=None: Flag --\1 must have a value other than None\.", message
        )
        if missing:
            name = missing.group(1)
            message = f"--{name} is required: {flags.FLAGS[name].help}"
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
    except Exception as e:  # a NameError, ZeroDivisionError, ... in the config file's own code
        # The file as given (config_flags' `FILE:ARG` form too), as the frames name it or not.
        path = os.path.abspath(config_file.split(":")[0]) if config_file else None
        frames = traceback.extract_tb(e.__traceback__)
        lines = [f.lineno for f in frames if os.path.abspath(f.filename) == path]
        if not lines:
            raise  # not the config file's: a bug, with its traceback
        message = f"the config file {config_file} fails: line {lines[-1]}: {type(e).__name__}: {e}"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/jax_vae_aae/xla (XDG_CACHE_HOME defaults to ~/.cache)."""
    return files.cache_dir("xla")


def enable_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache in $JAX_COMPILATION_CACHE_DIR (`off`: none)
    or `default_cache_dir()`; returns the folder or None. Every program is cached, however
    quick: the small ones add up to seconds of start-up. No size cap: JAX's capped cache needs
    `filelock` and fails every write in a folder holding uncapped entries."""
    import jax

    path = os.environ.get(CACHE_ENV) or default_cache_dir()
    if path == "off":
        jax.config.update("jax_compilation_cache_dir", None)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
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
    """Ends the process with one line: exit 1 for a UserError or a refused write, 128 + signum
    for SIGTERM / SIGINT (also while data loads). Any other exception is a bug and keeps its
    traceback."""
    logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
        yield
    except Interrupted as e:
        logging.warning("%s", e)
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt as e:
        _exit_stopped(e.signum if isinstance(e, Terminated) else signal.SIGINT)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        # A signal inside an extension's initialisation surfaces as an ImportError.
        stop = _signal_behind(e) or (_received[-1] if _received else None)
        if stop is not None:
            _exit_stopped(stop)
        if not (files.is_write_error(e) and e.filename):
            raise  # a bug keeps its traceback
        why = e.strerror
        if e.errno in (errno.ENOTDIR, errno.EEXIST):
            why += f": {files.file_on_path(e.filename)} is a file, where a folder must go"
        elif e.errno == errno.EISDIR:
            why += ": a folder stands where the file must go"
        print(f"error: cannot write {files.written_path(e)}: {why}", file=sys.stderr)
        sys.exit(1)


def _exit_stopped(signum: int) -> NoReturn:
    """Ends a process a signal stopped outside the training loop: its line, then exit 128 +
    signum without the interpreter's teardown. A signal raised while XLA compiles (the start-up
    builds the state and the epoch) leaves jaxlib in a state whose teardown segfaults (jax
    0.10.2, reproduced without this project); the `with` blocks, the workdir's lock among them,
    have run by now, and there is nothing else to save."""
    print(f"stopped by signal {signum}; run the same command again", file=sys.stderr)
    logging_std.shutdown()  # flushes the log handlers
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)


def _signal_behind(error: BaseException) -> int | None:
    """The signal number of a KeyboardInterrupt (or Terminated) in `error`'s causes, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt):
            return error.signum if isinstance(error, Terminated) else signal.SIGINT
        error = error.__cause__ or error.__context__
    return None
