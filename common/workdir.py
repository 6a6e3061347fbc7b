"""A run's directory: its lock, the checks before a run writes to it, `--fresh`, a full disk,
and reading a run back.

A workdir holds one run (common/run_files.py names every file in it). Running again with the same
workdir resumes the run. A run holds `run.lock` (`lock`) from its first check to its exit, so a
second run on the same workdir stops at once; `prepare` refuses a config the run cannot resume
with before anything is written; `out_of_space_is_one_line` turns a full disk into one line.
`load_run` reads a run back as the report and `common.reproduce` see it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
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

from common import checkpoint, config_rules, errors, metric_writer, parallel, priors, run_files
from common.errors import CheckpointError, ConfigError, DiskFull, WorkdirBusy

# Config fields a run cannot resume with other values that its train state does not show: the
# data, the seed, the AAE's prior and which of its images keep their labels, and how many
# labelled images the semi-supervised AAE learns from. Fields that shape the state (z_dim,
# num_filters, the update scheme, the optimizers, ...) are found by comparing the state itself
# (check_state).
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

# Fields added to the configs after runs were saved without them, with the value that reproduces
# those runs (the one place that knows about older workdirs; `*` is any key): conv_impl only
# picks how the convolutions are computed (the same function); the AAE optimizers' warm-up came
# with the fix of the plain autoencoder's collapse.
ADDED_FIELDS = {"conv_impl": "auto", "optimizers.*.warmup_steps": 0}
# The same for one model kind: the AAE's prior was N(0, I) before it was configurable.
ADDED_FIELDS_OF = {"aae": {"prior": priors.prior_config("gaussian").to_dict()}}


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The workdir's config.json, with ADDED_FIELDS filled in where an older run lacks them.

    Raises:
      CheckpointError: the workdir holds no run.
    """
    path = os.path.join(workdir, run_files.CONFIG)
    if not os.path.exists(path):
        raise CheckpointError(f"{workdir} holds no run ({run_files.CONFIG} is missing)")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # hand-edited or half-written
        raise CheckpointError(f"{path} is not a config this project wrote ({e})") from e
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
    folder = checkpoint.checkpoint_dir(workdir)
    return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


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


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        if part not in node:
            return None
        node = node[part]
    return node


_WAY_OUT = "use another --workdir, or --fresh to start over there"


def check_data_fields(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Raises ConfigError when the workdir's run has other DATA_FIELDS than `config`."""
    saved = load_config(workdir)
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
    """Raises ConfigError when the newest readable checkpoint's state has another structure.

    Compares array paths, shapes and dtypes of the state `config` builds (`state_shapes`, from
    jax.eval_shape) with the checkpoint's metadata, without restoring it. The message names the
    config fields that differ from the run's and the first arrays that differ.
    """
    for epoch in checkpoint.epochs(workdir)[::-1]:
        try:
            saved = checkpoint.state_structure(workdir, epoch)
        except Exception:  # unreadable: damaged, skipped with a warning when the run restores
            continue
        ours = checkpoint.structure(state_shapes)
        if saved == ours:
            return
        diffs = [f"{p} missing here" for p in sorted(saved.keys() - ours.keys())]
        diffs += [f"{p} new here" for p in sorted(ours.keys() - saved.keys())]
        diffs += [
            f"{p} {_array(saved[p])} -> {_array(ours[p])}"
            for p in sorted(saved.keys() & ours.keys())
            if saved[p] != ours[p]
        ]
        old, new = flatten_config(load_config(workdir)), flatten_config(config)
        fields = [
            f"{f} {old.get(f)!r} -> {new.get(f)!r}"
            for f in sorted(old.keys() | new.keys())
            if old.get(f) != new.get(f)
        ]
        raise ConfigError(
            f"{workdir} holds a run whose train state this config cannot restore: fields that "
            f"differ: {', '.join(fields) or 'none'}; arrays that differ ({len(diffs)}): "
            f"{'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''}; {_WAY_OUT}"
        )


def flatten_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """{"data.limit": 0, ...} as config.json holds it (tuples as lists)."""
    return config_rules.flatten(json.loads(config.to_json_best_effort()))


def _array(shape_dtype: tuple) -> str:
    shape, dtype = shape_dtype
    return f"{dtype}[{', '.join(map(str, shape))}]"


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json atomically (readers never see half a file)."""
    path = os.path.join(workdir, run_files.CONFIG)
    tmp = os.path.join(workdir, run_files.temporary(run_files.CONFIG))
    with errors.writing(tmp), open(tmp, "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    os.replace(tmp, path)


def prepare(
    config: ml_collections.ConfigDict, workdir: str, state_shapes: Any, fresh: bool = False
) -> bool:
    """Checks the workdir against `config`, then writes config.json. Returns True to resume.

    Call it holding the workdir's `lock`. Nothing is written before the checks pass: a refused
    run leaves the workdir as it was. With several processes, every one checks, only the first
    writes.

    Args:
      state_shapes: jax.eval_shape of the train state `config` builds.

    Raises:
      ConfigError: the workdir holds a run this config cannot resume.
    """
    main = parallel.is_main_process()
    resume = has_run(workdir) and not fresh
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
            clear(workdir)
        os.makedirs(workdir, exist_ok=True)
        write_config(config, workdir)
    parallel.sync("workdir prepared")
    return resume


# ----------------------------------------------------------------------------- the lock


@contextlib.contextmanager
def lock(workdir: str) -> Iterator[None]:
    """Holds WORKDIR/run.lock for the body: a second run on the workdir stops at once.

    The lock is an flock on the file, which the kernel drops when its process dies, so a run
    killed by SIGKILL or a power loss never blocks a rerun: the next run takes the lock over with
    a warning naming the dead holder. The file holds the holder (pid, host, start time, command)
    while locked and is emptied on release (never deleted: a waiting run would lock a ghost).
    With several processes, the first locks for the job; all stop if it cannot.

    Raises:
      WorkdirBusy: another run holds the lock (the message names it).
      ConfigError: the workdir cannot be created or written.
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
# How tensorstore (orbax's writer) words ENOSPC in the ValueError it raises.
_NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded")


def _no_space(error: BaseException | None) -> BaseException | None:
    """Of the exceptions in `error`'s chain (causes, contexts) that say the disk is full, the
    one raised first (closing files on the way out can meet the full disk again), as its writer
    worded it last (`errors.writing` adds the file's name); None if none says so."""
    found, seen, reworded = None, set(), False
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        is_oserror = isinstance(error, OSError) and error.errno in NO_SPACE
        matches = is_oserror or any(words in str(error) for words in _NO_SPACE_WORDS)
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
    """Turns a full disk met in the body (a checkpoint, metrics, events, a picture) into DiskFull.

    Complete checkpoints stay as they are; a checkpoint cut short is a temporary folder that the
    next start removes (common.checkpoint), and the metrics are cut back to the checkpoint the
    run resumes from (common.metric_writer), so the same command, once there is room, resumes.
    """
    try:
        yield
    except DiskFull:
        raise
    except Exception as e:
        full = _no_space(e)
        if full is None:
            raise
        raise disk_full(workdir, full) from e


# ----------------------------------------------------------------------------- reading a run


@dataclasses.dataclass
class Run:
    """A run as its workdir holds it: config, metric rows and `common.reproduce`'s record."""

    workdir: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]  # per-epoch rows, in order
    final: dict[str, Any] | None  # the final row, once training finished
    record: dict[str, Any]  # read_record

    @property
    def kind(self) -> str:
        return self.config.get("model", "vae")

    @property
    def last_epoch(self) -> int | None:
        return self.rows[-1]["epoch"] if self.rows else None

    @property
    def sessions(self) -> list[dict[str, Any]]:
        return self.record.get("sessions", [])

    @property
    def latest(self) -> dict[str, Any]:
        """The latest session's record (epoch scale, overrides, data), {} if none."""
        return self.sessions[-1] if self.sessions else {}

    def row(self, epoch: int) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["epoch"] == epoch), None)


def read_record(workdir: str) -> dict[str, Any]:
    """`common.reproduce`'s record of the sessions that trained `workdir`: {"sessions": [...]}."""
    path = os.path.join(workdir, run_files.RECORD)
    if not os.path.exists(path):
        return {"sessions": []}
    with open(path) as f:
        return json.load(f)


def load_run(workdir: str) -> Run | None:
    """The run in `workdir`, or None when it holds none yet."""
    needed = (run_files.CONFIG, run_files.METRICS)
    if not all(os.path.exists(os.path.join(workdir, name)) for name in needed):
        return None
    all_rows = metric_writer.read_metrics(workdir)
    rows = [r for r in all_rows if "epoch" in r]
    final = all_rows[-1] if all_rows and "epoch" not in all_rows[-1] else None
    config = json.loads(load_config(workdir).to_json_best_effort())  # older runs' fields filled
    return Run(workdir, config, rows, final, read_record(workdir))
