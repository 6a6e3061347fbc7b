"""The shared loop (common.train.trainer): resume after SIGKILL, config changes, --fresh, non-finite
losses, values out of range, SIGTERM, restoring."""

import functools
import json
import math
import os
import signal
import subprocess
import time

import jax
import numpy as np
import pytest
from conftest import (
    ROOT,
    copy_run,
    make_tiny_aae_config,
    make_tiny_vae_config,
    run_cli,
    tiny_flags,
)

from aae import train as aae_train
from common.errors import CheckpointError, ConfigError, DataError, NonFiniteError
from common.train import checkpoint, metric_writer
from vae import train


def epochs_in(workdir):
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    return [r["epoch"] for r in rows if "epoch" in r]


def final_params(workdir, epoch):
    _, state, _ = train.VAETrainer.restore(workdir, epoch)
    return jax.device_get(state)


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory):
    """Enough images that an epoch lasts long enough to be killed in the middle."""
    from conftest import write_mnist_folder

    return write_mnist_folder(tmp_path_factory.mktemp("big"), num_train=1000, num_test=20)


@pytest.mark.slow  # three runs to epoch 3 on 1,000 images: README's second test command
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(big_dir, tmp_path):
    epochs = 3
    reference = str(tmp_path / "reference")  # trained here: what tiny_flags trains, unkilled
    config = make_tiny_vae_config(big_dir)
    config.update(num_epochs=epochs, checkpoint_epochs=(0,), sample_epochs=(0,))
    train.train_and_evaluate(config, reference)

    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(
        tiny_flags(big_dir, killed, epochs),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = os.path.join(killed, "checkpoints", "1")
    deadline = time.time() + 240
    while not os.path.exists(first) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    result = run_cli(tiny_flags(big_dir, killed, epochs))
    assert result.returncode == 0, result.stderr[-3000:]
    assert epochs_in(killed) == list(range(epochs + 1))  # each epoch exactly once
    a, b = final_params(reference, epochs), final_params(killed, epochs)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_shaping_config_change_is_refused_and_harmless_change_allowed(vae_run, tmp_path):
    workdir = copy_run(vae_run, tmp_path / "run")  # 2 epochs, z_dim 2
    before = sorted(os.listdir(workdir))

    changed = make_tiny_vae_config(vae_run.config.data.dir)
    changed.z_dim = 3
    with pytest.raises(ConfigError, match="fields that differ: z_dim 2 -> 3; arrays that differ"):
        train.train_and_evaluate(changed, workdir)
    assert sorted(os.listdir(workdir)) == before
    assert json.load(open(os.path.join(workdir, "config.json")))["z_dim"] == 2

    longer = make_tiny_vae_config(vae_run.config.data.dir)  # train one more epoch
    longer.num_epochs = 3
    train.train_and_evaluate(longer, workdir)
    assert epochs_in(workdir) == [0, 1, 2, 3]
    # (--fresh with the changed config: test_fresh_starts_from_an_empty_set_of_artefacts)


def test_non_finite_loss_stops_with_the_epoch_and_keeps_the_last_checkpoint(mnist_dir, tmp_path):
    config = make_tiny_vae_config(mnist_dir)
    config.learning_rate = 1e12
    config.num_epochs = 4
    workdir = str(tmp_path / "nan")
    with pytest.raises(NonFiniteError, match=r"epoch \d: non-finite loss .*last good checkpoint"):
        train.train_and_evaluate(config, workdir)
    manager = checkpoint.make_manager(workdir, read_only=True)
    last = manager.latest_step()
    state = final_params(workdir, last)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.params))


@pytest.mark.parametrize(
    "model, field, value, message",
    [
        ("vae", "z_dim", 0, "config.z_dim=0 must be an integer >= 1"),
        ("vae", "batch_size", 0, "config.batch_size=0 must be an integer >= 1"),
        ("vae", "num_epochs", -1, "config.num_epochs=-1 must be an integer >= 0"),
        ("vae", "data.name", "cifar", "config.data.name='cifar' must be one of mnist, fashion"),
        ("vae", "conv_impl", "gpu", "config.conv_impl='gpu' must be one of auto, cpu, xla"),
        ("vae", "learning_rate", -1.0, "config.learning_rate=-1.0 must be finite and > 0"),
        ("vae", "learning_rate", math.nan, "config.learning_rate=nan must be finite and > 0"),
        ("vae", "sample_epochs", (0, -2), r"config.sample_epochs=\(0, -2\) must be a sequence of"),
        ("aae", "lambda_", math.nan, r"config.lambda_=nan must be in \[0, 1\]"),
        ("aae", "optimizers.ae.learning_rate", math.nan, "optimizers.ae.learning_rate=nan must"),
        ("aae", "optimizers.disc.learning_rate", 0.0, "optimizers.disc.learning_rate=0.0 must"),
        ("aae", "optimizers.ae.b1", 1.0, r"config.optimizers.ae.b1=1.0 must be in \[0, 1\)"),
        ("aae", "optimizers.gen.name", "rmsprop", "optimizers.gen.name='rmsprop' must be one"),
        ("aae", "update_scheme", "two", "config.update_scheme='two' must be one of combined"),
    ],
)
def test_config_values_out_of_range(mnist_dir, tmp_path, model, field, value, message):
    config = (make_tiny_vae_config if model == "vae" else make_tiny_aae_config)(mnist_dir)
    *parents, leaf = field.split(".")
    functools.reduce(getattr, parents, config)[leaf] = value
    module = {"vae": train, "aae": aae_train}[model]
    with pytest.raises(ConfigError, match=message):
        module.train_and_evaluate(config, str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_fresh_starts_from_an_empty_set_of_artefacts(vae_run, tmp_path):
    workdir = tmp_path / "run"
    copy_run(vae_run, workdir)  # z_dim 2: the manifold and the scatter are there
    (workdir / "log_likelihood.json").write_text("{}")  # what evaluate_vae.py would add
    (workdir / "notes.txt").write_text("mine")  # not the run's: stays
    assert (workdir / "manifold.png").exists() and (workdir / "latent_scatter.png").exists()
    config = make_tiny_vae_config(vae_run.config.data.dir)
    config.update(z_dim=3, num_epochs=1, sample_epochs=(1,))  # a state the run cannot resume
    train.train_and_evaluate(config, str(workdir), fresh=True)
    names = set(os.listdir(workdir))
    assert not {"manifold.png", "latent_scatter.png", "log_likelihood.json"} & names
    assert not (workdir / "samples" / "epoch_0.png").exists()
    assert (workdir / "samples" / "epoch_1.png").exists() and "notes.txt" in names
    assert len([n for n in names if n.startswith("events.out")]) == 1
    assert [r["epoch"] for r in metric_writer.read_metrics(str(workdir)) if "epoch" in r] == [0, 1]
    assert json.load(open(workdir / "config.json"))["z_dim"] == 3


def test_a_validation_split_of_one_image_is_a_data_error(tmp_path):
    from conftest import write_mnist_folder

    folder = write_mnist_folder(tmp_path / "four", num_train=4, num_test=4)
    config = make_tiny_vae_config(folder)
    config.batch_size = 2
    with pytest.raises(DataError, match="validation split needs at least 2 images"):
        train.train_and_evaluate(config, str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_the_final_row_goes_to_tensorboard_at_the_last_epoch(vae_run):
    import tensorboard.backend.event_processing.event_accumulator as ea

    config, workdir, final = vae_run
    events = ea.EventAccumulator(workdir)
    events.Reload()
    (test_bpd,) = events.Scalars("test/bpd")
    assert test_bpd.step == config.num_epochs  # drawn at the last epoch, not at step 0
    assert test_bpd.value == pytest.approx(final["test_bpd"])


def test_sigterm_saves_and_exits_with_a_resume_hint(mnist_dir, tmp_path):
    workdir = str(tmp_path / "term")
    proc = subprocess.Popen(
        tiny_flags(mnist_dir, workdir, 500),  # stopped long before its end
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = os.path.join(workdir, "checkpoints", "1")
    deadline = time.time() + 240
    while not os.path.exists(first) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "run the same command again to resume" in stderr
    stopped = epochs_in(workdir)[-1]
    assert 1 <= stopped < 500
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert manager.latest_step() == stopped


# ----------------------------------------------------------------------------- faults a user causes


def wait_for(condition, timeout=240):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.05)
    assert condition()


def test_a_second_run_on_a_busy_workdir_stops_at_once_then_a_dead_holder_is_taken_over(
    mnist_dir, tmp_path
):
    workdir = tmp_path / "run"
    first = subprocess.Popen(
        tiny_flags(mnist_dir, str(workdir), 500),  # busy until it is killed
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: (workdir / "checkpoints" / "1").exists())
    config_before = (workdir / "config.json").read_text()
    # The second run, even with another z_dim, is refused before it checks or writes anything.
    second = run_cli(tiny_flags(mnist_dir, str(workdir), 2, extra=["--config.z_dim=3"]))
    assert second.returncode == 1, second.stderr[-2000:]
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {workdir} is in use by another run (pid {first.pid} on ")
    assert (workdir / "config.json").read_text() == config_before
    first.send_signal(signal.SIGKILL)  # dies holding the lock
    first.wait()
    third = run_cli(tiny_flags(mnist_dir, str(workdir), epochs_in(str(workdir))[-1] + 1))
    assert third.returncode == 0, third.stderr[-2000:]
    assert "Taking over" in third.stderr and f"pid {first.pid}" in third.stderr
    epochs = epochs_in(str(workdir))
    assert epochs == list(range(len(epochs)))  # each epoch once
    assert (workdir / "run.lock").read_text() == ""


def damage(checkpoint_folder, how: str) -> None:
    """Damages one checkpoint the ways a disk or a user can."""
    state = checkpoint_folder / "state"
    if how == "truncated":
        files = [p for p in state.rglob("*") if p.is_file()]
        biggest = max(files, key=lambda p: p.stat().st_size)
        with open(biggest, "r+b") as f:
            f.truncate(biggest.stat().st_size // 2)
    elif how == "no _METADATA":
        (state / "_METADATA").unlink()
    elif how == "empty meta":
        (checkpoint_folder / "meta" / "metadata").write_text("")


@pytest.mark.parametrize("how", ["truncated", "no _METADATA", "empty meta"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(
    vae_run, tmp_path, caplog, how
):
    workdir = copy_run(vae_run, tmp_path / "run")
    assert checkpoint.epochs(workdir) == [0, 1, 2]
    damage(tmp_path / "run" / "checkpoints" / "2", how)

    _, _, epoch = train.VAETrainer.restore(workdir)  # what sample.py does: the newest good
    assert epoch == 1 and "Checkpoint of epoch 2 does not restore" in caplog.text
    with pytest.raises(CheckpointError, match="epoch 2 .* does not restore"):
        train.VAETrainer.restore(workdir, 2)

    config = make_tiny_vae_config(vae_run.config.data.dir)
    config.num_epochs = 3
    train.train_and_evaluate(config, workdir)
    assert epochs_in(workdir) == [0, 1, 2, 3]  # epoch 2 trained again, each epoch once
    assert {0, 2, 3} <= set(checkpoint.epochs(workdir))  # (and the best, if another)
    (aside,) = os.listdir(tmp_path / "run" / "damaged_checkpoints")
    assert aside.startswith("2-")
    assert train.VAETrainer.restore(workdir)[2] == 3


def test_changing_what_shapes_the_state_on_resume_is_one_line_naming_the_field(aae_run, tmp_path):
    workdir = copy_run(aae_run, tmp_path / "run")  # 2 epochs
    saved = (tmp_path / "run" / "config.json").read_text()
    data_dir = aae_run.config.data.dir
    for field, value, named in (
        ("update_scheme", "three_phase", "update_scheme 'combined' -> 'three_phase'"),
        ("optimizers.ae.name", "sgd", "optimizers.ae.name 'adam' -> 'sgd'"),
    ):
        changed = make_tiny_aae_config(data_dir)
        *parents, leaf = field.split(".")
        functools.reduce(getattr, parents, changed)[leaf] = value
        with pytest.raises(ConfigError, match=f"fields that differ: .*{named}.*--fresh"):
            aae_train.train_and_evaluate(changed, workdir)
        # config.json is written only after the checks
        assert (tmp_path / "run" / "config.json").read_text() == saved
    # A learning rate does not shape the state: the run trains on with it.
    faster = make_tiny_aae_config(data_dir)
    faster.update(num_epochs=3)
    faster.optimizers.ae.learning_rate = 2e-3
    aae_train.train_and_evaluate(faster, workdir)
    assert epochs_in(workdir) == [0, 1, 2, 3]


# What runs inside a private mount namespace (`unshare -rm`): a small tmpfs as the workdir's
# file system, a run paused after epoch 2 while a file fills the rest, the failure, then the
# file removed and the same command run again. Results go to OUT for the test to read.
FULL_DISK = """
import json, os, shutil, signal, subprocess, sys, time
sys.path.insert(0, "tests")
from conftest import tiny_flags
disk, out = {disk!r}, {out!r}
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", disk], check=True)
command = tiny_flags({data!r}, os.path.join(disk, "run"), 6)
with open(os.path.join(out, "first.err"), "w") as err:
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
try:
    deadline = time.time() + 240
    while not os.path.isdir(os.path.join(disk, "run", "checkpoints", "2")):
        assert first.poll() is None and time.time() < deadline, "no checkpoint 2"
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)
    fd = os.open(os.path.join(disk, "filler"), os.O_WRONLY | os.O_CREAT)
    try:  # unbuffered: every byte that fits is written, then ENOSPC
        while os.write(fd, bytes(1 << 16)):
            pass
    except OSError:
        pass
    os.close(fd)
finally:
    first.send_signal(signal.SIGCONT)
first.wait(timeout=240)
shutil.copytree(os.path.join(disk, "run"), os.path.join(out, "after_failure"), symlinks=True)
os.remove(os.path.join(disk, "filler"))
second = subprocess.run(command, capture_output=True, text=True, timeout=240)
shutil.copytree(os.path.join(disk, "run"), os.path.join(out, "resumed"), symlinks=True)
stderr = open(os.path.join(out, "first.err")).read()
json.dump([first.returncode, stderr, second.returncode, second.stderr],
          open(os.path.join(out, "result.json"), "w"))
"""


def test_a_full_disk_is_one_line_and_the_same_command_resumes(mnist_dir, tmp_path):
    import shutil
    import sys

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs util-linux's unshare and mount for a private small file system")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged mount namespaces are off here: {probe.stderr.decode()[:200]}")
    (tmp_path / "disk").mkdir()
    code = FULL_DISK.format(disk=str(tmp_path / "disk"), out=str(tmp_path), data=mnist_dir)
    done = subprocess.run(
        ["unshare", "-rm", sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rc, stderr, rc_again, stderr_again = json.load(open(tmp_path / "result.json"))

    assert rc == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: no space left on the device of {tmp_path / 'disk' / 'run'} ")
    assert last.endswith("; free space and run the same command to resume"), last
    # Every complete checkpoint restores, and the epochs recorded are those trained.
    failed = str(tmp_path / "after_failure")
    kept = checkpoint.epochs(failed)
    assert kept == [0, 1, 2], kept  # the milestone and the two newest; nothing half-written
    for epoch in kept:
        final_params(failed, epoch)
    trained = epochs_in(failed)
    assert trained == list(range(len(trained))) and max(kept) <= trained[-1]

    # Room again: the same command resumes, each epoch once, nothing half-written left.
    assert rc_again == 0, stderr_again[-3000:]
    resumed = str(tmp_path / "resumed")
    assert epochs_in(resumed) == list(range(7))
    assert not [n for n in os.listdir(os.path.join(resumed, "checkpoints")) if not n.isdigit()]


def test_no_trainer_attribute_is_set_outside_init():
    # README: anyone can call the compiled epoch with its arguments, nothing set up beforehand.
    import ast
    import pathlib

    root = pathlib.Path(ROOT)
    late = []
    for path in ("common/train/trainer.py", "vae/train.py", "aae/train.py", "aae/semi_train.py"):
        for cls in ast.walk(ast.parse((root / path).read_text())):
            if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("Trainer")):
                continue
            for method in cls.body:
                if isinstance(method, ast.FunctionDef) and method.name != "__init__":
                    late += [
                        f"{path}: {cls.name}.{method.name} sets self.{target.attr}"
                        for node in ast.walk(method)
                        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
                        for target in getattr(node, "targets", [getattr(node, "target", None)])
                        if isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ]
    assert late == []


def test_the_run_says_where_its_seconds_went(vae_run):
    # The final row holds the breakdown (data, state, compile, train, validation, metrics,
    # pictures, checkpoints, test, other), the phases adding up to the total.
    seconds = {k.removeprefix("seconds_"): v for k, v in vae_run.final.items() if "seconds_" in k}
    phases = {"data", "state", "compile", "train", "validation", "pictures", "checkpoints"}
    assert phases <= set(seconds) and seconds["total"] > 0
    parts = sum(v for k, v in seconds.items() if k != "total")
    assert parts == pytest.approx(seconds["total"], abs=0.01 * len(seconds))
    assert seconds["train"] > 0 and seconds["compile"] > 0
