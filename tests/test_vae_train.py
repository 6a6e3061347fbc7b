"""VAETrainer: the train step (golden values, descent), the run's artefacts, resume, restore."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import copy_run, fake_digits

from common import input_pipeline
from common.errors import CheckpointError
from common.train import checkpoint, metric_writer
from common.train.run_setup import setup_run
from vae import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def steps(config, num, key):
    """`num` jitted train steps on one fixed batch of 16 fake digits; the metrics of each."""
    trainer = train.VAETrainer(config)
    state = jax.jit(trainer.create_train_state)(key)
    batch = input_pipeline.quantize_4bit(fake_digits(16, 0)[0][..., None])
    step = jax.jit(trainer.train_step)
    out = []
    for i in range(num):
        state, metrics = step(state, batch, jax.random.fold_in(key, i))
        out.append({k: float(v) for k, v in metrics.compute().items()})
    return state, out


# Metrics of steps 1, 2 and 5 (of the parameters before each step) at seed 0 on the fixed batch,
# as this code computed them (jax 0.10.2, CPU). bpd and L_rec move by about 1e-3 relative per
# step, so their tolerance (2e-5) tells the steps apart; L_reg is near zero and noisier.
GOLDEN = {
    1: {"bpd": 4.000008, "l_rec": 2173.713, "l_reg": 0.0005206547},
    2: {"bpd": 3.998036, "l_rec": 2172.642, "l_reg": 0.0001371384},
    5: {"bpd": 3.99192, "l_rec": 2169.316, "l_reg": 0.00267823},
}
TOLERANCE = {"bpd": 2e-5, "l_rec": 2e-5, "l_reg": 1e-2}


def test_golden_values_of_the_first_steps(tiny_vae_config):
    # A change of the maths (loss, bpd, initialisation, optimizer) moves these numbers.
    _, metrics = steps(tiny_vae_config, 5, jax.random.key(0))
    for step, want in GOLDEN.items():
        for name, value in want.items():
            got = metrics[step - 1][name]
            assert got == pytest.approx(value, rel=TOLERANCE[name]), (step, name, got, value)


def test_steps_on_one_batch_lower_the_loss(tiny_vae_config, key):
    tiny_vae_config.learning_rate = 1e-2
    state, metrics = steps(tiny_vae_config, 8, key)
    bpds = [m["bpd"] for m in metrics]
    assert bpds[-1] < bpds[0] - 0.1, bpds
    assert int(state.step) == 8


def test_run_writes_every_artefact(vae_run):
    config, workdir, final = vae_run
    for name in (
        "config.json",
        "metrics.jsonl",
        "bpd_curve.png",
        "manifold.png",
        "latent_scatter.png",
        "interpolation.png",
        "samples/epoch_0.png",
        "samples/epoch_0_mean.png",
        "samples/epoch_2.png",
        "reconstructions/epoch_0.png",
        "reconstructions/epoch_2.png",
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(workdir))
    rows = metric_writer.read_metrics(workdir)
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]
    for row in rows[1:3]:
        assert {"epoch", "train_bpd", "train_l_rec", "train_l_reg", "val_bpd", "seconds"} <= set(
            row
        )
        assert np.isfinite(row["train_bpd"]) and np.isfinite(row["val_bpd"])
    assert rows[0]["val_bpd"] == pytest.approx(4.0, abs=0.1)  # untrained: near uniform
    for row in rows[:3]:  # how far the codes are from the prior, every epoch
        assert {"val_code_mmd", "val_code_mean_norm", "val_code_cov_dist"} <= set(row)
    # val_elbo is minus L_rec + L_reg in nats; bpd is its negative in bits per dimension.
    row = rows[2]
    assert row["val_elbo"] == pytest.approx(-(row["val_l_rec"] + row["val_l_reg"]), rel=1e-5)
    assert row["val_bpd"] == pytest.approx(-row["val_elbo"] / (784 * np.log(2)), rel=1e-5)
    assert "epoch" not in rows[-1] and rows[-1]["test_bpd"] == pytest.approx(final["test_bpd"])
    assert final["best_epoch"] == min(rows[1:3], key=lambda r: r["val_bpd"])["epoch"]
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert set(manager.all_steps()) >= {0, 1, 2}


def test_rerun_of_a_finished_run_resumes_and_trains_nothing(vae_run, tmp_path):
    config, _, final = vae_run
    workdir = copy_run(vae_run, tmp_path / "run")
    again = train.train_and_evaluate(config, workdir)
    assert again["test_bpd"] == pytest.approx(final["test_bpd"])
    rows = metric_writer.read_metrics(workdir)
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]


def test_restore_gives_the_trainer_and_the_checkpoint(vae_run):
    _, workdir, _ = vae_run
    trainer, state, epoch = train.VAETrainer.restore(workdir)
    assert (trainer.kind, epoch, int(state.step)) == ("vae", 2, 2 * (180 // 16))
    samples = trainer.sample_grids(state.params, jax.random.key(0), 4)
    assert set(samples) == {"samples", "samples_mean"}
    for images in samples.values():
        assert (
            images.shape == (4, 28, 28, 1) and 0 <= float(images.min()) <= float(images.max()) <= 1
        )
    with pytest.raises(
        CheckpointError, match="no checkpoint for epoch 9.*available epochs: 0, 1, 2"
    ):
        train.VAETrainer.restore(workdir, 9)


def test_sample_script_restores_in_a_new_process(vae_run, tmp_path):
    _, workdir, _ = vae_run
    out = tmp_path / "grid.png"
    cmd = [sys.executable, "scripts/sample.py", f"--workdir={workdir}", "--epoch=2", f"--out={out}"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.exists() and out.stat().st_size > 0
    cmd[3] = "--epoch=7"
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert (
        "no checkpoint for epoch 7" in result.stderr
        and "available epochs: 0, 1, 2" in result.stderr
    )


def test_the_compiled_epoch_needs_only_its_arguments_and_serves_every_seed(tiny_vae_config):
    # Nothing set up on the trainer beforehand: the run's keys and devices come in a RunSetup.
    images = fake_digits(48, 0)[0][..., None]  # 3 batches of 16
    trainer = train.VAETrainer(tiny_vae_config)
    state = jax.jit(trainer.create_train_state)(jax.random.key(0))
    epoch = jax.jit(trainer.train_epoch)
    out = []
    for seed in (0, 1, 0):  # the same start, other shuffling and z draws
        tiny_vae_config.seed = seed
        out.append(epoch(state, images, 1, setup_run(tiny_vae_config, len(images))))
    assert epoch._cache_size() == 1  # the keys are arguments: one program for every seed
    (first, m1), (other, m2), (again, m3) = out
    assert int(first.step) == 3 and float(m1["bpd"]) == float(m3["bpd"]) != float(m2["bpd"])
    for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
