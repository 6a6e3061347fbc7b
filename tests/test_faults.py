"""Faults a user can cause, each one line (or one warning and a correct recovery), nothing written
before it changed by it (docs/reliability.md's table names these tests)."""

import errno
import glob
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, copy_run, fake_digits, make_tiny_vae_config, run_cli, write_idx

from common import files
from common.errors import CheckpointError, ConfigError, DataError
from common.evaluation import classifier, sample_quality
from common.train import checkpoint, kinds, metric_writer, run_files
from vae import train as vae_train


def console(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def sample(workdir, *extra, timeout=120):
    args = [sys.executable, "scripts/sample.py", f"--workdir={workdir}", *extra]
    return run_cli(args, timeout=timeout)


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINT_FILES = (  # each kind of file of an orbax checkpoint, as globs under checkpoints/N
    "_CHECKPOINT_METADATA",
    "meta/metadata",
    "state/_METADATA",
    "state/manifest.ocdbt",
    "state/d/*",
    "state/ocdbt.process_0/manifest.ocdbt",
    "state/ocdbt.process_0/d/*",
)


# What a restore on one process does without (measured): orbax's checkpoint-level metadata and
# the process's own manifest (the top-level manifest names the arrays' files). Any other damage
# sets the epoch aside.
RESTORES_WITHOUT = ("_CHECKPOINT_METADATA", "state/ocdbt.process_0/manifest.ocdbt")


def truncate(folder, pattern):
    paths = sorted(glob.glob(os.path.join(folder, pattern)))
    for path in paths:
        with open(path, "r+b") as f:
            f.truncate(min(10, os.path.getsize(path) // 2))
    return paths


@pytest.mark.slow  # a restore in a new process per kind of file
@pytest.mark.parametrize("pattern", CHECKPOINT_FILES)
def test_each_kind_of_damaged_checkpoint_file_is_one_warning_line(vae_run, tmp_path, pattern):
    workdir = copy_run(vae_run, tmp_path / "run")
    assert truncate(os.path.join(workdir, "checkpoints", "2"), pattern), pattern
    result = sample(workdir)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in console(result) if "libtpu" not in line]  # jax's own info line
    assert len(lines) <= 1, lines  # the warning (a lost _CHECKPOINT_METADATA: orbax's own line)
    restored = "vae epoch 2)" in result.stdout
    assert restored or ("vae epoch 1)" in result.stdout and "epoch 2 does not restore" in lines[0])
    if restored:  # only a file the restore does not read (orbax's metadata): the same arrays
        _, damaged, _ = kinds.restore(workdir, 2)
        _, whole, _ = kinds.restore(vae_run.workdir, 2)
        jax.tree.map(np.testing.assert_array_equal, damaged.params, whole.params)
    assert restored == (pattern in RESTORES_WITHOUT), (pattern, restored)


def test_a_damaged_checkpoint_and_the_same_training_command_is_one_warning(vae_run, tmp_path):
    # The damage that floods the console most: the state's data files (reads in flight when
    # the restore fails call back into the event loop orbax closed).
    workdir = copy_run(vae_run, tmp_path / "run")
    truncate(os.path.join(workdir, "checkpoints", "2"), "state/d/*")
    args = [
        sys.executable,
        "scripts/train_vae.py",
        f"--workdir={workdir}",
        "--config.num_filters=4",
        "--config.z_dim=2",
        "--config.batch_size=16",
        "--config.eval_batch_size=16",
        "--config.num_epochs=3",
        f"--config.data.dir={vae_run.config.data.dir}",
        "--config.checkpoint_epochs=(0,1)",
        "--config.sample_epochs=(0,2)",
        "--config.num_samples=4",
        "--config.manifold_size=3",
    ]
    result = run_cli(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Event loop is closed" not in result.stderr
    assert "Checkpoint of epoch 2 does not restore" in result.stderr
    assert checkpoint.epochs(workdir)[-1] == 3


def test_stray_folders_in_checkpoints_are_set_aside_not_counted(vae_run, tmp_path, caplog):
    workdir = copy_run(vae_run, tmp_path / "run")  # trained to epoch 2
    folder = os.path.join(workdir, "checkpoints")
    os.makedirs(os.path.join(folder, "7"))  # empty: not a checkpoint of epoch 7
    assert checkpoint.epochs(workdir) == [0, 1, 2] and checkpoint.strays(workdir) == ["7"]
    assert kinds.restore(workdir)[2] == 2  # readers skip it
    config = make_tiny_vae_config(vae_run.config.data.dir)
    config.num_epochs = 3
    vae_train.train_and_evaluate(config, workdir)  # not "trained to epoch 7 ... --fresh"
    assert "checkpoints/7 is not a checkpoint" in caplog.text
    assert checkpoint.epochs(workdir)[-1] == 3 and not os.path.exists(os.path.join(folder, "7"))
    # A checkpoint replaced by a file: set aside with a warning, the run resumes before it.
    os.rename(os.path.join(folder, "3"), tmp_path / "three")
    open(os.path.join(folder, "3"), "w").write("not a checkpoint")
    caplog.clear()
    config.num_epochs = 4
    vae_train.train_and_evaluate(config, workdir)
    assert "checkpoints/3 is not a checkpoint" in caplog.text
    rows = metric_writer.read_metrics(workdir)
    assert [r["epoch"] for r in rows if "epoch" in r][-3:] == [2, 3, 4]
    aside = os.listdir(os.path.join(workdir, run_files.DAMAGED_CHECKPOINTS))
    assert sorted(a.split("-")[0] for a in aside) == ["3", "7"]


def test_listing_checkpoints_while_a_run_prunes_them_tries_again(vae_run, monkeypatch):
    real, calls = checkpoint.make_manager, []

    def pruned_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError(errno.ENOENT, "gone", "checkpoints/1/_CHECKPOINT_METADATA")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "make_manager", pruned_once)
    assert kinds.restore(vae_run.workdir)[2] == 2 and len(calls) == 2

    def always(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "gone", "x")

    monkeypatch.setattr(checkpoint, "make_manager", always)
    with pytest.raises(CheckpointError, match="cannot be listed .* try again"):
        kinds.restore(vae_run.workdir)


# ----------------------------------------------------------------------------- config.json


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text('{"model": "vae"}'), "not a config this project wrote (config."),
        (lambda p: p.mkdir(), "config.json cannot be read (Is a directory)"),
        (lambda p: p.write_text('{"model": "gan"}'), "'gan' is not a model kind"),
    ],
)
def test_a_config_json_the_project_did_not_write_is_one_line(vae_run, tmp_path, write, message):
    workdir = copy_run(vae_run, tmp_path / "run")
    path = tmp_path / "run" / "config.json"
    path.unlink()
    write(path)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kinds.restore(workdir)
    with pytest.raises(CheckpointError):
        kinds.read_config(workdir)


def test_another_models_config_json_is_named_not_answered_with_fresh(vae_run, aae_run, tmp_path):
    workdir = copy_run(vae_run, tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(open(f"{aae_run.workdir}/config.json").read())
    result = sample(workdir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (last,) = console(result)[-1:]
    assert "does not describe the model its checkpoints hold" in last and "--fresh" not in last


# ----------------------------------------------------------------------------- writing files


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    files.write_json(str(path), {"old": 1})
    for code in (errno.ENOSPC, errno.EROFS):

        def refused(fd, code=code):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "fsync", refused)
        with pytest.raises(OSError) as raised:
            files.write_json(str(path), {"new": 2})
        assert raised.value.filename == str(path) and files.is_write_error(raised.value)
        assert json.loads(path.read_text()) == {"old": 1}
        assert os.listdir(tmp_path) == ["result.json"]


# A script run with every write under FOLDER refused (the errno given), as a full disk or a
# read-only file system refuses it: os.open and io.open both fail for paths under the folder.
REFUSED = """
import builtins, errno, io, os, runpy, sys
folder, code = sys.argv[1], int(sys.argv[2])
real_open, real_os_open = io.open, os.open
def writes(path, mode):
    return str(path).startswith(folder) and any(c in mode for c in "wax+")
def refusing_open(path, mode="r", *a, **k):
    if writes(path, mode):
        raise OSError(code, os.strerror(code), str(path))
    return real_open(path, mode, *a, **k)
def refusing_os_open(path, flags, *a, **k):
    if str(path).startswith(folder) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        raise OSError(code, os.strerror(code), str(path))
    return real_os_open(path, flags, *a, **k)
real_mkdir = os.mkdir
def refusing_mkdir(path, *a, **k):
    if str(path).startswith(folder):
        raise OSError(code, os.strerror(code), str(path))
    return real_mkdir(path, *a, **k)
builtins.open = io.open = refusing_open
os.open, os.mkdir = refusing_os_open, refusing_mkdir
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
@pytest.mark.parametrize(
    "script, extra",
    [
        ("evaluate_samples.py", ["--num_samples=20"]),
        ("evaluate_vae.py", ["--num_images=4", "--ks=1"]),
        ("explore.py", []),
    ],
)
def test_scripts_refused_their_writes_are_one_line_before_the_work(
    vae_run, tmp_path, script, extra, code
):
    workdir = copy_run(vae_run, tmp_path / "run")
    before = {p: os.path.getmtime(p) for p in glob.glob(f"{workdir}/**", recursive=True)}
    args = [f"scripts/{script}", f"--workdir={workdir}", *extra]
    started = time.perf_counter()
    result = run_cli([sys.executable, "-c", REFUSED, workdir, str(code), *args])
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = console(result)[-1]
    assert last.startswith("error: ") and workdir in last, last
    after = {p: os.path.getmtime(p) for p in glob.glob(f"{workdir}/**", recursive=True)}
    assert after == before  # nothing written, nothing changed
    assert time.perf_counter() - started < 60  # refused before the evaluation, not after it


def test_a_path_in_the_way_is_a_users_fault_and_a_folder_made_twice_is_not(tmp_path):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir").mkdir()
    in_the_way = [
        OSError(errno.EEXIST, "File exists", str(tmp_path / "afile")),
        OSError(errno.ENOTDIR, "Not a directory", str(tmp_path / "afile" / "sub")),
        OSError(
            errno.EISDIR, "Is a directory", str(tmp_path / "x.tmp"), None, str(tmp_path / "adir")
        ),
    ]
    assert all(files.is_write_error(e) for e in in_the_way)
    assert files.written_path(in_the_way[2]) == str(tmp_path / "adir")  # a rename's target
    made_twice = OSError(errno.EEXIST, "File exists", str(tmp_path / "adir"))
    assert not files.is_write_error(made_twice)  # a bug: it keeps its traceback


@pytest.mark.parametrize(
    "script, flag, message",
    [
        ("explore.py", "--out=FILE", "cannot write FILE: File exists: FILE is a file, where"),
        ("explore.py", "--out=FILE/sub", "cannot write FILE/sub: Not a directory: FILE is a file"),
        (
            "evaluate_samples.py",
            "--classifier_dir=FILE/sub",
            "the classifier's cache folder FILE/sub cannot be made: FILE is a file",
        ),
    ],
)
def test_a_file_where_a_folder_must_go_is_one_line_before_the_work(
    vae_run, tmp_path, script, flag, message
):
    # An --out or --classifier_dir naming a file, or a path through one.
    workdir = copy_run(vae_run, tmp_path / "run")
    blocking = tmp_path / "afile"
    blocking.write_text("mine")
    flag, message = (t.replace("FILE", str(blocking)) for t in (flag, message))
    args = [f"scripts/{script}", f"--workdir={workdir}", flag, "--num_samples=20"]
    result = run_cli([sys.executable, *args[: 3 if script == "explore.py" else 4]])
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert console(result)[-1].startswith(f"error: {message}"), console(result)
    assert "classifier: training" not in result.stderr  # refused before the classifier trains
    assert blocking.read_text() == "mine"


# ----------------------------------------------------------------------------- caches, metrics


def test_a_damaged_sample_quality_file_is_set_aside_before_the_work(tmp_path, caplog):
    (tmp_path / run_files.SAMPLE_QUALITY).write_text("{junk")
    assert sample_quality.read_results(str(tmp_path)) == {}
    assert "damaged" in caplog.text
    assert (tmp_path / f"{run_files.SAMPLE_QUALITY}.damaged").read_text() == "{junk"


def test_a_damaged_classifier_cache_is_set_aside_and_trained_again(tmp_path, mnist_dir, caplog):
    from common import input_pipeline

    config = make_tiny_vae_config(mnist_dir).data
    data = input_pipeline.load_dataset(config)
    first = classifier.load_or_train(config, data, str(tmp_path), steps=2)
    folder = tmp_path / first.fingerprint
    for damage in (
        lambda: (folder / classifier.PARAMS_FILE).write_bytes(b"\x00" * 7),  # truncated
        lambda: (folder / classifier.INFO_FILE).write_text("{broken"),
    ):
        damage()
        caplog.clear()
        again = classifier.load_or_train(config, data, str(tmp_path), steps=2)
        assert "does not load" in caplog.text and "training it again" in caplog.text
        assert (tmp_path / f"{first.fingerprint}.damaged").is_dir()
        # Trained again and stored whole: the cache loads as it is, and gives what it gave.
        stored = classifier._load(str(folder), first.fingerprint)
        assert stored.accuracy == again.accuracy
        jax.tree.map(np.testing.assert_array_equal, stored.params, again.params)


def test_metrics_that_cannot_be_read_say_what_to_do(tmp_path):
    (tmp_path / run_files.METRICS).mkdir()
    with pytest.raises(CheckpointError, match="cannot be read .* move it away"):
        metric_writer.read_metrics(str(tmp_path))
    os.rmdir(tmp_path / run_files.METRICS)
    rows = [json.dumps({"epoch": e}) for e in range(3)]
    (tmp_path / run_files.METRICS).write_text(rows[0] + "\n[1, 2]\n" + rows[2] + "\n")
    with pytest.raises(CheckpointError, match="line 2 is not a metrics row.* delete that line"):
        metric_writer.read_metrics(str(tmp_path))


# ----------------------------------------------------------------------------- data, config


def test_labels_outside_the_classes_are_refused_naming_file_and_index(tmp_path):
    from common import input_pipeline

    images, labels = fake_digits(30, 0)
    labels = labels.astype(np.uint8)
    labels[7::7] = 200
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), images)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), labels)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: label 200 at index 7 \(and"):
        input_pipeline.load_dataset(make_tiny_vae_config(str(tmp_path)).data)


def test_a_seed_a_prng_key_cannot_take_is_a_config_error(tiny_vae_config):
    tiny_vae_config.seed = 2**63
    with pytest.raises(ConfigError, match="seed=9223372036854775808 must be an integer from 0"):
        vae_train.VAETrainer(tiny_vae_config)


# ----------------------------------------------------------------------------- signals


def _catches_sigterm(pid: int) -> bool:
    """Whether process `pid` has a handler for SIGTERM (Linux's /proc; Python itself handles
    SIGINT from its start, so SIGTERM's is the one that says a script's own are set)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_is_one_line_and_its_exit_code(tmp_path, mnist_dir, signum):
    # Stopped while the script imports (before any epoch): nothing to save.
    args = [
        sys.executable,
        "scripts/train_vae.py",
        f"--workdir={tmp_path / 'run'}",
        f"--config.data.dir={mnist_dir}",
    ]
    process = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not _catches_sigterm(process.pid):  # cli.run has set its handlers: imports follow
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.005)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"stopped by signal {signum}"), lines[-3:]
    lock = tmp_path / "run" / run_files.LOCK
    assert not lock.exists() or lock.read_text() == ""  # released (or never taken)


def test_a_signal_while_xla_compiles_is_one_line_and_its_exit_code():
    # A signal raised while XLA compiles (as a run's start-up does for its state and epoch)
    # left jaxlib in a state whose teardown segfaulted at exit (-11, not 143).
    code = """if True:
        import os, signal, threading
        import jax, jax.numpy as jnp
        from common import cli

        def main(argv):
            def f(x):
                for i in range(200):
                    x = jnp.sin(x @ x.T) + i
                return x

            lowered = jax.jit(f).lower(jnp.ones((64, 64)))  # traced: the compile alone is left
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
            lowered.compile()
            print("compiled before the signal came")

        cli.run(main)
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "compiled before" not in done.stdout  # the signal came while XLA compiled
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1] == "stopped by signal 15; run the same command again"
