"""Resume, config changes, atomic checkpoints, non-finite losses, bad input, signals."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import make_tiny_vae_config, write_idx

from common import checkpoint, restore
from common.errors import CheckpointError, ConfigError, NonFiniteError
from vae import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_flags(data_dir: str, workdir: str, num_epochs: int, script="train_vae.py", extra=()):
    return [
        sys.executable,
        f"scripts/{script}",
        f"--workdir={workdir}",
        "--config.num_filters=4",
        "--config.z_dim=2",
        "--config.batch_size=16",
        "--config.eval_batch_size=16",
        f"--config.num_epochs={num_epochs}",
        f"--config.data.dir={data_dir}",
        "--config.checkpoint_epochs=(0,)",
        "--config.sample_epochs=(0,)",
        "--config.num_samples=4",
        *extra,
    ]


def run_cli(args, timeout=240):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def epochs_in(workdir):
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    return [r["epoch"] for r in rows if "epoch" in r]


def final_params(workdir, epoch):
    _, _, state, _ = restore.restore_run(workdir, epoch)
    return jax.device_get(state)


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory):
    """Enough images that an epoch lasts long enough to be killed in the middle."""
    from conftest import write_mnist_folder

    return write_mnist_folder(tmp_path_factory.mktemp("big"), num_train=1000, num_test=20)


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(big_dir, tmp_path):
    epochs = 3
    reference = str(tmp_path / "reference")
    result = run_cli(tiny_flags(big_dir, reference, epochs))
    assert result.returncode == 0, result.stderr[-3000:]

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


def test_shaping_config_change_is_refused_and_harmless_change_allowed(mnist_dir, tmp_path):
    config = make_tiny_vae_config(mnist_dir)
    config.num_epochs = 1
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(config, workdir)
    before = sorted(os.listdir(workdir))

    changed = make_tiny_vae_config(mnist_dir)
    changed.num_epochs = 1
    changed.z_dim = 3
    with pytest.raises(ConfigError, match="z_dim=2, but this config has z_dim=3"):
        train.train_and_evaluate(changed, workdir)
    assert sorted(os.listdir(workdir)) == before
    assert json.load(open(os.path.join(workdir, "config.json")))["z_dim"] == 2

    longer = make_tiny_vae_config(mnist_dir)  # num_epochs 2: train one more epoch
    train.train_and_evaluate(longer, workdir)
    assert epochs_in(workdir) == [0, 1, 2]

    train.train_and_evaluate(changed, workdir, fresh=True)  # explicit fresh start
    assert epochs_in(workdir) == [0, 1]
    assert json.load(open(os.path.join(workdir, "config.json")))["z_dim"] == 3


def test_checkpoint_writes_are_atomic_under_sigkill(tmp_path):
    """A writer killed mid-save leaves only complete checkpoints, each restorable."""
    workdir = str(tmp_path)
    code = f"""
import numpy as np
from common import checkpoint
manager = checkpoint.make_manager({workdir!r}, milestones=range(1000))
for step in range(1000):
    state = {{"w": np.full((4_000_000,), step, np.float32)}}  # 16 MB: a save takes a while
    checkpoint.save(manager, step, state, {{"epoch": step}})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)
    ckpt = checkpoint.checkpoint_dir(workdir)
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(os.path.join(ckpt, "2")):
        time.sleep(0.01)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manager = checkpoint.make_manager(workdir, milestones=range(1000))
    steps = manager.all_steps()
    assert len(steps) >= 3
    for step in steps:
        state, meta = checkpoint.restore(manager, step, {"w": np.zeros((4_000_000,), np.float32)})
        assert meta["epoch"] == step and np.all(np.asarray(state["w"]) == step)
    assert sorted(os.listdir(ckpt))  # the partial save, if any, is never listed as a step
    assert all(not name.isdigit() or int(name) in steps for name in os.listdir(ckpt))


def test_non_finite_loss_stops_with_the_epoch_and_keeps_the_last_checkpoint(mnist_dir, tmp_path):
    config = make_tiny_vae_config(mnist_dir)
    config.learning_rate = 1e12
    config.num_epochs = 5
    workdir = str(tmp_path / "nan")
    with pytest.raises(NonFiniteError, match=r"epoch \d: non-finite loss .*last good checkpoint"):
        train.train_and_evaluate(config, workdir)
    manager = checkpoint.make_manager(workdir, read_only=True)
    last = manager.latest_step()
    state = final_params(workdir, last)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.params))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("z_dim", 0, "config.z_dim=0 must be >= 1"),
        ("batch_size", 0, "config.batch_size=0 must be >= 1"),
        ("num_epochs", -1, "config.num_epochs=-1 must be >= 0"),
        ("data.name", "cifar", "data.name='cifar' is not a known dataset"),
        ("conv_impl", "gpu", "conv_impl='gpu': expected one of auto, cpu, xla"),
    ],
)
def test_config_values_out_of_range(mnist_dir, tmp_path, field, value, message):
    config = make_tiny_vae_config(mnist_dir)
    node, leaf = (config.data, "name") if field == "data.name" else (config, field)
    setattr(node, leaf, value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        train.train_and_evaluate(config, str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_bad_input_from_the_command_line_is_one_line_and_writes_nothing(tmp_path, mnist_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    write_idx(str(bad / "train-images-idx3-ubyte.gz"), np.zeros((5, 28, 28)), magic=0x0801)
    cases = [
        (tiny_flags(str(tmp_path / "missing"), str(tmp_path / "w1"), 1), "does not exist"),
        (tiny_flags(str(bad), str(tmp_path / "w2"), 1), "wrong IDX magic number"),
        (
            tiny_flags(mnist_dir, str(tmp_path / "w3"), 1, "train_aae.py", ["--config.lambda_=2"]),
            "lambda_=2.0 must be in [0, 1]",
        ),
    ]
    for args, message in cases:
        result = run_cli(args)
        assert result.returncode == 1, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        assert not os.path.exists(args[2].split("=", 1)[1])


def test_sample_of_missing_epoch_lists_those_that_exist(mnist_dir, tmp_path):
    config = make_tiny_vae_config(mnist_dir)
    config.num_epochs = 1
    train.train_and_evaluate(config, str(tmp_path))
    with pytest.raises(CheckpointError, match="no checkpoint for epoch 9.*available epochs: 0, 1"):
        restore.restore_run(str(tmp_path), 9)
    # A run saved before config.conv_impl existed still restores.
    path = tmp_path / "config.json"
    saved = json.loads(path.read_text())
    del saved["conv_impl"]
    path.write_text(json.dumps(saved))
    assert restore.restore_run(str(tmp_path))[3] == 1


def test_sigterm_saves_and_exits_with_a_resume_hint(big_dir, tmp_path):
    workdir = str(tmp_path / "term")
    proc = subprocess.Popen(
        tiny_flags(big_dir, workdir, 50),
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
    assert 1 <= stopped < 50
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert manager.latest_step() == stopped
