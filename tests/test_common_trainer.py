"""The shared loop (common.trainer): resume after SIGKILL, config changes, --fresh, non-finite
losses, values out of range, SIGTERM, restoring."""

import json
import os
import signal
import subprocess
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, make_tiny_vae_config, run_cli, tiny_flags

from common import checkpoint, metric_writer
from common.errors import ConfigError, DataError, NonFiniteError
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


def test_fresh_starts_from_an_empty_set_of_artefacts(mnist_dir, tmp_path):
    workdir = tmp_path / "run"
    config = make_tiny_vae_config(mnist_dir)  # z_dim 2: writes the manifold and the scatter
    config.num_epochs = 1
    train.train_and_evaluate(config, str(workdir))
    (workdir / "log_likelihood.json").write_text("{}")  # what evaluate_vae.py would add
    (workdir / "notes.txt").write_text("mine")  # not the run's: stays
    assert (workdir / "manifold.png").exists() and (workdir / "latent_scatter.png").exists()
    config.z_dim = 3
    config.sample_epochs = (1,)
    train.train_and_evaluate(config, str(workdir), fresh=True)
    names = set(os.listdir(workdir))
    assert not {"manifold.png", "latent_scatter.png", "log_likelihood.json"} & names
    assert not (workdir / "samples" / "epoch_0.png").exists()
    assert (workdir / "samples" / "epoch_1.png").exists() and "notes.txt" in names
    assert len([n for n in names if n.startswith("events.out")]) == 1
    assert [r["epoch"] for r in metric_writer.read_metrics(str(workdir)) if "epoch" in r] == [0, 1]


def test_an_empty_validation_split_is_a_data_error(tmp_path):
    from conftest import write_mnist_folder

    folder = write_mnist_folder(tmp_path / "four", num_train=4, num_test=4)
    config = make_tiny_vae_config(folder)
    config.batch_size = 2
    with pytest.raises(DataError, match="validation split is empty"):
        train.train_and_evaluate(config, str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_the_final_row_goes_to_tensorboard_at_the_last_epoch(mnist_dir, tmp_path):
    import tensorboard.backend.event_processing.event_accumulator as ea

    config = make_tiny_vae_config(mnist_dir)
    final = train.train_and_evaluate(config, str(tmp_path))
    events = ea.EventAccumulator(str(tmp_path))
    events.Reload()
    (test_bpd,) = events.Scalars("test/bpd")
    assert test_bpd.step == config.num_epochs  # drawn at the last epoch, not at step 0
    assert test_bpd.value == pytest.approx(final["test_bpd"])


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
