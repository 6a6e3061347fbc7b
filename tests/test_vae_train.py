"""VAE training end to end on tiny data: steps, artefacts, resume, restore in a new process."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import fake_digits, make_tiny_vae_config

from common import checkpoint, input_pipeline
from vae import sampling, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_steps_on_one_batch_lower_the_loss(tiny_vae_config, key):
    tiny_vae_config.learning_rate = 1e-2
    state = train.create_train_state(tiny_vae_config, key)
    batch = input_pipeline.quantize_4bit(fake_digits(16, 0)[0][..., None])
    step = jax.jit(train.train_step)
    bpds = []
    for i in range(8):
        state, metrics = step(state, batch, jax.random.fold_in(key, i))
        bpds.append(float(metrics.compute()["bpd"]))
    assert bpds[-1] < bpds[0] - 0.1, bpds
    assert int(state.step) == 8


def test_manifold_latents_are_normal_ppf_of_centred_percentiles():
    z = np.asarray(sampling.manifold_latents(20))
    assert z.shape == (400, 2)
    np.testing.assert_allclose(z[0], [-1.959964, 1.959964], atol=1e-5)  # ppf(0.025), ppf(0.975)
    np.testing.assert_allclose(z[-1], [1.959964, -1.959964], atol=1e-5)


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory, mnist_dir):
    """One tiny 2-epoch run shared by the checks below (compiles once)."""
    config = make_tiny_vae_config(mnist_dir)
    workdir = str(tmp_path_factory.mktemp("vae_run"))
    final = train.train_and_evaluate(config, workdir)
    return config, workdir, final


def test_run_writes_every_artefact(trained_workdir):
    config, workdir, final = trained_workdir
    for name in (
        "config.json",
        "metrics.jsonl",
        "bpd_curve.png",
        "manifold.png",
        "samples/epoch_0.png",
        "samples/epoch_0_mean.png",
        "samples/epoch_2.png",
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(workdir))
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]
    for row in rows[1:3]:
        assert {"epoch", "train_bpd", "val_bpd", "seconds"} <= set(row)
        assert np.isfinite(row["train_bpd"]) and np.isfinite(row["val_bpd"])
    assert rows[0]["val_bpd"] == pytest.approx(4.0, abs=0.1)  # untrained: near uniform
    assert "test_bpd" in rows[-1] and rows[-1]["test_bpd"] == final["test_bpd"]
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert set(manager.all_steps()) >= {0, 1, 2}


def test_rerun_of_a_finished_run_resumes_and_trains_nothing(trained_workdir):
    config, workdir, final = trained_workdir
    again = train.train_and_evaluate(config, workdir)
    assert again["test_bpd"] == pytest.approx(final["test_bpd"])
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]


def test_sample_script_restores_in_a_new_process(trained_workdir, tmp_path):
    _, workdir, _ = trained_workdir
    out = tmp_path / "grid.png"
    cmd = [sys.executable, "scripts/sample.py", f"--workdir={workdir}", "--epoch=1", f"--out={out}"]
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
