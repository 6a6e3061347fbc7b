"""common.reproduce and common.report: epoch scaling, choosing experiments, the report from
fabricated workdirs, the optional log-likelihood step, and one tiny experiment end to end."""

import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import make_tiny_aae_config

import vae
from common import images as image_utils
from common import report, reproduce
from common.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = {e.name: e for e in reproduce.EXPERIMENTS}


# ----------------------------------------------------------------------------- epochs and configs


def test_scale_epoch_rounds_up_keeps_zero_and_ignores_float_noise():
    assert reproduce.scale_epoch(80, 0.1) == 8
    assert reproduce.scale_epoch(100, 0.02) == 2
    assert reproduce.scale_epoch(80, 1.0) == 80
    assert reproduce.scale_epoch(0, 0.1) == 0  # the untrained model stays the untrained model
    assert reproduce.scale_epoch(10, 0.01) == 1  # never below one epoch
    assert reproduce.scale_epoch(100, 0.07) == 7  # 100 * 0.07 == 7.000000000000001 in floats
    assert reproduce.scale_epoch(10, 0.25) == 3  # 2.5 rounds up


def test_scale_schedule_drops_unreached_epochs_and_keeps_the_last():
    assert reproduce.scale_schedule((0, 10, 80), 80, 0.1) == [(0, 0), (10, 1), (80, 8)]
    # The VAE's checkpoint epochs include 100, past its 80 epochs: never reached.
    assert reproduce.scale_schedule((0, 10, 20, 50, 80, 100), 80, 0.1) == [
        (0, 0),
        (10, 1),
        (20, 2),
        (50, 5),
        (80, 8),
    ]
    assert reproduce.scale_schedule((0, 20, 50, 100), 100, 0.02) == [
        (0, 0),
        (20, 1),
        (50, 1),
        (100, 2),
    ]
    # A schedule that misses the last epoch gets it, so the last grid always exists.
    assert reproduce.scale_schedule((0, 10), 80, 0.5) == [(0, 0), (10, 5), (80, 40)]


def test_make_config_scales_the_vae_schedule_and_sets_the_data():
    config, info = reproduce.make_config(
        EXPERIMENTS["vae"], epoch_scale=0.1, data_dir="idx_folder", limit=500
    )
    assert config.num_epochs == 8
    assert tuple(config.sample_epochs) == (0, 1, 8)
    assert tuple(config.checkpoint_epochs) == (0, 1, 2, 5, 8)
    assert (config.data.dir, config.data.limit) == ("idx_folder", 500)
    assert info["overrides"] == {
        "num_epochs": 8,
        "sample_epochs": [0, 1, 8],
        "checkpoint_epochs": [0, 1, 2, 5, 8],
        "data.dir": "idx_folder",
        "data.limit": 500,
    }
    assert info["sample_epochs"] == [(0, 0), (10, 1), (80, 8)]
    assert info["config_num_epochs"] == 80


def test_make_config_at_full_scale_changes_only_what_is_asked():
    config, info = reproduce.make_config(EXPERIMENTS["aae"])
    assert config.num_epochs == 100 and tuple(config.sample_epochs) == (0, 20, 50, 100)
    assert info["overrides"] == {}
    config, info = reproduce.make_config(EXPERIMENTS["aae_z2"], epoch_scale=0.02)
    assert config.num_epochs == 2 and tuple(config.sample_epochs) == (0, 1, 2)
    assert config.z_dim == 2 and config.lambda_ == 0.995  # the config file's own fields stay
    with pytest.raises(ConfigError, match="epoch_scale"):
        reproduce.make_config(EXPERIMENTS["vae"], epoch_scale=0.0)


def test_the_experiments_cover_every_question_of_the_issue():
    questions = ", ".join(e.questions for e in reproduce.EXPERIMENTS)
    for q in ("Q1.7", "Q1.8", "Q1.9", "Q2.4", "Q2.5", "Q2.6", "Q2.7"):
        assert q in questions
    for exp in reproduce.EXPERIMENTS:
        config, _ = reproduce.make_config(exp)
        assert config.model == ("vae" if exp.name.startswith("vae") else "aae"), exp.name
    assert EXPERIMENTS["vae_z2"].show == ("manifold",)
    assert reproduce.make_config(EXPERIMENTS["aae_z20_stochastic"])[0].stochastic_encoder


def test_an_unknown_experiment_name_is_a_clear_error():
    with pytest.raises(
        ConfigError, match=r"unknown experiment 'vea' in --only; known: vae, vae_z2"
    ):
        reproduce.select(["vae", "vea"])
    assert [e.name for e in reproduce.select(["aae", "vae"])] == ["vae", "aae"]
    assert len(reproduce.select(None)) == len(reproduce.EXPERIMENTS)


def test_the_script_rejects_an_unknown_name_before_writing_anything(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "scripts", "reproduce.py"),
            f"--root={tmp_path / 'runs'}",
            f"--docs={tmp_path / 'docs'}",
            "--only=vae,aea",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    assert "error: unknown experiment 'aea' in --only; known: vae, vae_z2" in out.stderr
    assert not os.path.exists(tmp_path / "docs") and not os.path.exists(tmp_path / "runs")


# ----------------------------------------------------------------------------- the report

MACHINE = {
    "cpu": "Test CPU 9000",
    "cores": 4,
    "system": "Linux",
    "backend": "gpu",
    "device_kind": "Fake H100",
    "num_devices": 1,
    "jax_version": "0.0.1",
}


def _png(path):
    image_utils.save_image(np.zeros((6, 6, 1), np.float32), str(path))


def _fake_workdir(workdir, model, rows, final, session, pngs, sample_epochs, num_epochs=None):
    os.makedirs(workdir)
    num_epochs = rows[-1]["epoch"] if num_epochs is None else num_epochs
    config = {"model": model, "num_epochs": num_epochs, "sample_epochs": sample_epochs}
    (workdir / "config.json").write_text(json.dumps(config))
    lines = [json.dumps(r) for r in rows] + ([json.dumps(final)] if final else [])
    (workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if session is not None:
        (workdir / report.RECORD_FILE).write_text(json.dumps({"sessions": [session]}))
    for name in pngs:
        _png(workdir / name)


def _session(scale, pairs, config_num_epochs, data):
    return {
        "command": f"python scripts/reproduce.py --epoch_scale={scale}",
        "epoch_scale": scale,
        "overrides": {"data.dir": "/somewhere/private/mnist"},
        "sample_epochs": pairs,
        "config_num_epochs": config_num_epochs,
        "data": data,
        "has_test_set": True,
        "machine": MACHINE,
        "status": "finished",
        "wall_s": 3725.0,
    }


@pytest.fixture
def fake_root(tmp_path):
    """A VAE run of 80 epochs and an AAE run shortened to 50 of 100, with their PNGs."""
    root = tmp_path / "runs"
    data = "tfds mnist: 54000 train, 6000 val, 10000 test"
    vae_rows = [{"epoch": 0, "train_bpd": 4.0, "val_bpd": 4.0, "seconds": 0.0}] + [
        {"epoch": e, "train_bpd": 0.5 + 1.0 / e, "val_bpd": 0.52 + 1.0 / e, "seconds": 10.0}
        for e in range(1, 81)
    ]
    vae_rows[-1].update(train_bpd=0.53, val_bpd=0.541)
    _fake_workdir(
        root / "vae",
        "vae",
        vae_rows,
        {"test_bpd": 0.5432, "best_epoch": 79},
        _session(1.0, [[0, 0], [10, 10], [80, 80]], 80, data),
        [f"samples/epoch_{e}{s}.png" for e in (0, 10, 80) for s in ("", "_mean")]
        + ["bpd_curve.png", "proposal_variance.png"],
        [0, 10, 80],
    )
    iw_rows = [
        dict(k=k, iw_bpd=0.53 - k / 1e5, iw_bpd_se=0.001, iw_ess=k / 2, prior_bpd=0.9, prior_ess=1)
        for k in (1, 10, 100, 1000)
    ]
    (root / "vae" / "log_likelihood.json").write_text(
        json.dumps(
            {"epoch": 79, "split": "test", "num_images": 100, "rows": iw_rows, "elbo_bpd": 0.5432}
        )
    )
    aae_rows = [{"epoch": 0, "val_recon_loss": 0.9}] + [
        {"epoch": e, "recon_loss": 0.04, "val_recon_loss": 0.045, "disc_accuracy": 0.6}
        for e in range(1, 51)
    ]
    _fake_workdir(
        root / "aae",
        "aae",
        aae_rows,
        {"test_recon_loss": 0.0461},
        _session(0.5, [[0, 0], [20, 10], [50, 25], [100, 50]], 100, data),
        [f"{kind}/epoch_{e}.png" for kind in ("samples", "reconstructions") for e in (0, 10, 25)]
        + ["loss_curve.png"],  # no epoch 50 grids: they show as "(not written)"
        [0, 10, 25, 50],
    )
    return root


def test_report_from_fake_workdirs(fake_root, tmp_path):
    docs = tmp_path / "docs"
    _png(docs / "figures" / "vae" / "stale.png")  # from an earlier report: must go
    path = report.write_report(str(fake_root), str(docs), reproduce.EXPERIMENTS)
    text = open(path).read()

    # The table of final numbers beside the course's reference, with data, machine and epochs.
    vae_row = next(line for line in text.splitlines() if line.startswith("| 1 | `vae`"))
    assert "| 80 / 80 |" in vae_row and "| 0.530 | 0.541 |" in vae_row
    assert "0.543 (best validation epoch 79)" in vae_row
    assert "about 0.52 after 80 epochs" in vae_row and "0.530, +0.010 from it" in vae_row
    aae_row = next(line for line in text.splitlines() if line.startswith("| 4 | `aae`"))
    assert "| 50 / 100 |" in aae_row and "| 0.0400 | 0.0450 | 0.0461 |" in aae_row
    assert "below 0.05" in aae_row and "0.0400, met (but only 50 of 100 epochs ran)" in aae_row
    assert "| D1 | M1 |" in vae_row and "| D1 | M1 |" in aae_row
    assert "- D1: tfds mnist: 54000 train, 6000 val, 10000 test" in text
    assert "- M1: Test CPU 9000, 4 cores; jax 0.0.1 on gpu: 1 x Fake H100" in text
    assert "**Shortened runs** (epoch scale 0.5, 1.0)" in text
    assert text.count("not run") >= 6  # the six experiments without a workdir
    assert "1h02m05s wall clock in 1 session" in text
    assert "- **Epochs**: 50 run of the assignment's 100 (epoch scale 0.5); complete" in text

    # Grids at the assignment's epochs, labelled with the epochs they stand for.
    assert "epoch 10 (assignment: 20)" in text and "epoch 25 (assignment: 50)" in text
    assert "(not written)" in text  # the AAE's epoch 50 grids are missing
    # The importance-weighted table and the proposal plot.
    assert "| 1000 | 0.5200 ± 0.0010 | 500.0 | 0.9000 | 1.00 |" in text
    assert "100 test images, checkpoint of epoch 79; ELBO 0.5432 bpd" in text

    # Every linked figure was copied next to the report; nothing stale, no private paths.
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "figures/vae/samples_epoch_80.png" in links
    assert "figures/vae/proposal_variance.png" in links
    assert "figures/aae/reconstructions_epoch_10.png" in links
    for link in links:
        assert os.path.exists(docs / link), link
    assert not os.path.exists(docs / "figures" / "vae" / "stale.png")
    assert str(tmp_path) not in text and "/somewhere/private" not in text
    assert "`data.dir=.../mnist`" in text


def test_report_of_an_unfinished_run_without_a_record(tmp_path):
    root = tmp_path / "runs"
    rows = [{"epoch": 0, "train_bpd": 4.0, "val_bpd": 4.0}, {"epoch": 1, "train_bpd": 1.7}]
    _fake_workdir(root / "vae", "vae", rows, None, None, [], [0, 10, 80], num_epochs=80)
    text = open(
        report.write_report(str(root), str(tmp_path / "docs"), reproduce.EXPERIMENTS)
    ).read()
    assert "- **Epochs**: 1 run of the assignment's 80; stopped after epoch 1 of 80" in text
    assert "not recorded (trained outside scripts/reproduce.py)" in text
    assert "epoch 10, not reached yet" in text
    assert "(not written yet)" in text  # no bpd_curve.png


def test_copy_png_stores_grey_grids_with_one_channel_and_keeps_colour(tmp_path):
    from PIL import Image

    grey = np.linspace(0, 1, 36, dtype=np.float32).reshape(6, 6, 1)
    image_utils.save_image(grey, str(tmp_path / "grey.png"))  # matplotlib: RGBA
    report.copy_png(str(tmp_path / "grey.png"), str(tmp_path / "grey_copy.png"))
    with Image.open(tmp_path / "grey.png") as a, Image.open(tmp_path / "grey_copy.png") as b:
        assert (a.mode, b.mode) == ("RGBA", "L")
        np.testing.assert_array_equal(np.asarray(a)[..., 0], np.asarray(b))
    colour = np.zeros((6, 6, 3), np.float32)
    colour[..., 0] = 1.0
    image_utils.save_image(colour, str(tmp_path / "red.png"))
    report.copy_png(str(tmp_path / "red.png"), str(tmp_path / "red_copy.png"))
    assert (tmp_path / "red.png").read_bytes() == (tmp_path / "red_copy.png").read_bytes()


# ----------------------------------------------------------------------------- log-likelihood


def test_log_likelihood_step_calls_the_evaluator_once(fake_root, monkeypatch):
    calls = []

    def evaluate_workdir(workdir, *, num_images=None, split="test", **kwargs):
        calls.append((workdir, num_images, split))
        with open(os.path.join(workdir, "log_likelihood.json"), "w") as f:
            json.dump({"num_images": num_images}, f)
        return {"num_images": num_images}

    fake = types.SimpleNamespace(evaluate_workdir=evaluate_workdir)
    monkeypatch.setitem(sys.modules, "vae.evaluate", fake)
    monkeypatch.setattr(vae, "evaluate", fake, raising=False)
    workdir = str(fake_root / "vae")
    assert reproduce.evaluate_log_likelihood(workdir, 7, has_test_set=False) == {"num_images": 7}
    assert calls == [(workdir, 7, "val")]
    assert reproduce.evaluate_log_likelihood(workdir, 7, has_test_set=True) is None  # done
    assert reproduce.evaluate_log_likelihood(workdir, 9, has_test_set=True) == {"num_images": 9}
    assert calls[-1] == (workdir, 9, "test")


# ----------------------------------------------------------------------------- sessions


@pytest.mark.parametrize(
    "error, left", [(RuntimeError("boom"), "stopped: RuntimeError"), (ConfigError("no"), None)]
)
def test_a_failed_session_is_recorded_and_a_refused_one_is_not(
    tmp_path, mnist_dir, monkeypatch, error, left
):
    from common import restore

    def train_and_evaluate(config, workdir):
        raise error

    fake = types.SimpleNamespace(train_and_evaluate=train_and_evaluate)
    monkeypatch.setattr(restore, "trainer_module", lambda config: fake)
    with pytest.raises(type(error)):
        reproduce.run_experiment(EXPERIMENTS["aae"], str(tmp_path), data_dir=mnist_dir)
    path = tmp_path / "aae" / report.RECORD_FILE
    if left is None:
        assert not (tmp_path / "aae").exists()
    else:
        (session,) = json.loads(path.read_text())["sessions"]
        assert session["status"] == left and "wall_s" in session


# ----------------------------------------------------------------------------- end to end


def test_a_tiny_experiment_end_to_end_and_the_rerun_skips_it(tmp_path, mnist_dir, monkeypatch):
    def get_config():
        config = make_tiny_aae_config("")  # the data folder comes from make_config
        config.num_epochs = 4
        config.sample_epochs = (0, 2, 4)
        config.checkpoint_epochs = (0, 4)
        return config

    monkeypatch.setitem(sys.modules, "tiny_ae_config", types.SimpleNamespace(get_config=get_config))
    exp = report.Experiment(
        "tiny_ae",
        "tiny_ae_config",
        "Q2.6",
        "tiny autoencoder",
        ("reconstructions", "samples", "latent_scatter", "loss_curve"),
    )
    root, docs = str(tmp_path / "runs"), str(tmp_path / "docs")
    kwargs = dict(epoch_scale=0.5, data_dir=mnist_dir, limit=64, experiments=[exp])
    path = reproduce.main(root, docs, **kwargs)
    text = open(path).read()
    assert "epoch 1 (assignment: 2)" in text and "epoch 2 (assignment: 4)" in text
    assert "2 run of the assignment's 4 (epoch scale 0.5); complete" in text
    assert ": 64 train, 20 val, 50 test" in text  # the data's own description
    for name in ("latent_scatter.png", "samples_epoch_2.png", "reconstructions_epoch_1.png"):
        assert os.path.exists(os.path.join(docs, "figures", "tiny_ae", name)), name
    record = json.load(open(os.path.join(root, "tiny_ae", report.RECORD_FILE)))
    (session,) = record["sessions"]
    assert (session["from_epoch"], session["to_epoch"], session["status"]) == (None, 2, "finished")
    assert session["machine"]["backend"] == "cpu"

    reproduce.main(root, docs, **kwargs)  # finished: nothing trains, no new session
    assert len(json.load(open(os.path.join(root, "tiny_ae", report.RECORD_FILE)))["sessions"]) == 1
