"""A run's directory (one run; run_files names its files): its config, its lock, `--fresh`, and
a full disk as one line.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import errno
import fcntl
import fnmatch
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from typing import Any

import ml_collections
from absl import logging

from common import files, parallel, priors
from common.errors import NO_SPACE_WORDS, CheckpointError, ConfigError, DiskFull, WorkdirBusy
from common.train import checkpoint, run_files

# Fields added to the configs after runs were saved without them, with the value that reproduces
# those runs (the one place that knows about older workdirs; `*` is any key): conv_impl only
# picks how the convolutions are computed (the same function); the AAE optimizers' warm-up came
# with the fix of the plain autoencoder's collapse.
ADDED_FIELDS = {"conv_impl": "auto", "optimizers.*.warmup_steps": 0}
# The same for one model kind: the AAE's prior was N(0, I) before it was configurable.
ADDED_FIELDS_OF = {"aae": {"prior": priors.prior_config("gaussian").to_dict()}}


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The workdir's config.json, ADDED_FIELDS filled in where an older run lacks them.
    CheckpointError: no run, or a config.json this project did not write."""
    path = os.path.join(workdir, run_files.CONFIG)
    if not os.path.exists(path):
        raise CheckpointError(f"{workdir} holds no run ({run_files.CONFIG} is missing)")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # hand-edited or half-written
        raise CheckpointError(f"{path} is not a config this project wrote ({e})") from None
    except OSError as e:  # a folder, no permission
        raise CheckpointError(f"{path} cannot be read ({e.strerror or e})") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} is not a config this project wrote (not a JSON object)")
    for field, value in {**ADDED_FIELDS, **ADDED_FIELDS_OF.get(saved.get("model"), {})}.items():
        _fill(saved, field.split("."), value)
    return ml_collections.ConfigDict(saved)


def _fill(tree: dict, parts: list[str], value: Any) -> None:
    """Sets tree[parts...] = value where the path is missing; `*` walks every key there."""
    head, rest = parts[0], parts[1:]
    if head == "*":
        for child in tree.values():
            if isinstance(child, dict):
                _fill(child, rest, value)
    elif not rest:
        tree.setdefault(head, copy.deepcopy(value))
    elif isinstance(tree.get(head), dict):
        _fill(tree[head], rest, value)


def has_run(workdir: str) -> bool:
    """Whether `workdir` holds at least one checkpoint."""
    return bool(checkpoint.epochs(workdir))


def clear(workdir: str) -> None:
    """Removes everything run_files.RUN_FILES names from `workdir` (`--fresh`); other files stay."""
    if not os.path.isdir(workdir):
        return
    for name in os.listdir(workdir):
        if any(fnmatch.fnmatch(name, pattern) for pattern in run_files.RUN_FILES):
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json, whole or not at all."""
    path = os.path.join(workdir, run_files.CONFIG)
    files.write_text(path, config.to_json_best_effort(indent=2, sort_keys=True))


def make(config: ml_collections.ConfigDict, workdir: str, fresh: bool) -> None:
    """Makes `workdir` `config`'s run: emptied of an earlier run's files first with `fresh`
    (only where there was a run, its config.json or checkpoints: a folder that never held one
    keeps everything; a run's folder loses what RUN_FILES names, samples/ whole), created when
    missing, config.json written."""
    was_run = any(
        os.path.exists(os.path.join(workdir, name))
        for name in (run_files.CONFIG, run_files.CHECKPOINTS)
    )
    if fresh and was_run:
        clear(workdir)
    os.makedirs(workdir, exist_ok=True)
    write_config(config, workdir)


# ----------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def lock(workdir: str) -> Iterator[None]:
    """Holds WORKDIR/run.lock for the body, so a second run there stops at once. An flock: the
    kernel drops it when its process dies, so a killed run never blocks a rerun (which warns,
    naming the dead holder). The file names the holder (pid, host, start, command) and is
    emptied on release, never deleted (a waiting run would lock a ghost). The first process
    locks for the job. WorkdirBusy names the holder; ConfigError: the workdir cannot be written.
    """
    handle, error = None, None
    if parallel.is_main_process():
        try:
            handle = _acquire(workdir)
        except (WorkdirBusy, ConfigError, DiskFull) as e:
            error = e
    if parallel.any_process(error is not None):
        raise error or WorkdirBusy(f"the first process could not lock {workdir}")
    try:
        yield
    finally:
        if handle is not None:
            _release(handle)


def _acquire(workdir: str) -> int:
    try:
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, run_files.LOCK)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise WorkdirBusy(
                    f"{workdir} is in use by another run ({_describe(holder)}); wait for it to "
                    "finish, stop it, or use another --workdir"
                ) from None
            if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)  # replaced between our open and our lock: lock the file there now
        previous = _read_holder(fd)
        if previous:
            logging.warning(
                "Taking over %s: the run that held it (%s) ended without releasing it (killed?).",
                path,
                _describe(previous),
            )
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500],
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
            os.fsync(fd)
        except OSError:
            os.close(fd)  # (also drops the lock)
            raise
        return fd
    except OSError as e:  # not a folder, no permission, read-only file system, ...
        if e.errno in NO_SPACE:
            raise disk_full(workdir, e) from None
        raise ConfigError(
            f"cannot use {workdir} as a workdir: {e.strerror or e} "
            f"({e.filename or workdir}); pick a folder you can write"
        ) from None


def _release(fd: int) -> None:
    os.ftruncate(fd, 0)  # a clean exit leaves no holder behind
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _read_holder(fd: int) -> dict[str, Any] | None:
    raw = os.pread(fd, 4096, 0)
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return {"pid": "?", "host": "?", "since": "?"}


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "its holder is unknown"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


# ----------------------------------------------------------------------------- a full disk

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _no_space(error: BaseException | None) -> BaseException | None:
    """The first exception in `error`'s chain that says the disk is full (closing files on the
    way out can meet it again), as last reworded (`errors.writing` adds the file); or None."""
    found, seen, reworded = None, set(), False
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        is_oserror = isinstance(error, OSError) and error.errno in NO_SPACE
        matches = is_oserror or any(words in str(error) for words in NO_SPACE_WORDS)
        if matches and not reworded:  # (`raise ... from` a match words the same failure anew)
            found = error
        reworded = matches and error.__cause__ is not None
        error = error.__cause__ or error.__context__
    return found


def disk_full(workdir: str, error: BaseException) -> DiskFull:
    """The one-line error of a full disk under `workdir`: what was written, what is free."""
    try:
        free = f"{shutil.disk_usage(workdir).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    if isinstance(error, OSError) and error.filename:
        what = f"writing {os.path.relpath(error.filename, workdir)}: {error.strerror}"
    elif isinstance(error, OSError):
        what = error.strerror or str(error)
    else:  # orbax's writer (tensorstore) words it in a ValueError about its internal files
        what = f"{type(error).__name__}: No space left on device"
    return DiskFull(
        f"no space left on the device of {workdir} ({what}; {free}); free space and run the "
        "same command to resume"
    )


@contextlib.contextmanager
def out_of_space_is_one_line(workdir: str) -> Iterator[None]:
    """Turns a full disk met in the body into DiskFull. A checkpoint cut short is a temporary
    folder the next start removes, and the metrics are cut back to the checkpoint resumed from,
    so the same command resumes once there is room."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as e:
        full = _no_space(e)
        if full is None:
            raise
        raise disk_full(workdir, full) from e
