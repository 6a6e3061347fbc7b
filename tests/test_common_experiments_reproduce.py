"""common.experiments.reproduce: epoch scaling, choosing experiments, the optional log-likelihood
step, the session records, and one tiny experiment end to end."""

import functools
import json
import os
import re
import statistics
import subprocess
import sys

import pytest
from conftest import make_tiny_aae_config

from common.errors import ConfigError
from common.experiments import plans, reproduce
from common.report import runs
from common.train import kinds, run_files
from common.train import workdir as workdir_lib
from configs import aae_semi_100, experiments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = experiments.BY_NAME
SEMI_100 = next(e for e in experiments.PAPER.experiments if e.name == "aae_semi_100")


def plan_of(experiment, **fields):
    """A plan of one experiment (and, in `fields`, sweeps)."""
    return plans.Plan((experiment,), experiments.HEADLINES, **fields)


@pytest.fixture
def fake_trainers(monkeypatch):
    """Every model kind trains with FakeTrainer."""
    monkeypatch.setattr(kinds, "trainer_class", lambda kind: FakeTrainer)


class FakeTrainer:
    """Writes what a finished run leaves for the report (its config, metric rows and final
    row), without training: its validation number falls with the epoch and grows with the seed."""

    def __init__(self, config):
        self.config = config

    def train_and_evaluate(self, workdir):
        c = self.config
        os.makedirs(workdir, exist_ok=True)
        workdir_lib.write_config(c, workdir)
        rows = [
            {"epoch": e, "train_recon_loss": 0.1, "val_recon_loss": c.seed / 100 + 1 / (e + 1)}
            for e in range(c.num_epochs + 1)
        ]
        final = {"test_recon_loss": rows[-1]["val_recon_loss"]}
        with open(os.path.join(workdir, run_files.METRICS), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in [*rows, final])
        return final


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


def test_make_config_shrinks_a_learning_rate_drop_with_the_epochs():
    # configs/aae_semi_100.py drops its rates after 13 of its 20 epochs (a step count): a scaled
    # run drops them at the same share of its own epochs, rounded up as they are (0.07: 2).
    steps_per_epoch = aae_semi_100.STEPS_PER_EPOCH
    full, info = reproduce.make_config(SEMI_100)
    assert info["overrides"] == {}
    (drop,) = full.optimizers.recon.decay_steps
    assert drop == 13 * steps_per_epoch
    for scale, epochs in ((0.05, 1), (0.07, 2), (0.5, 10)):
        config, info = reproduce.make_config(SEMI_100, epoch_scale=scale)
        assert config.num_epochs == epochs
        for name, opt in config.optimizers.items():
            (step,) = opt.decay_steps
            assert step / (epochs * steps_per_epoch) == pytest.approx(13 / 20, abs=1e-3), name
            assert info["overrides"][f"optimizers.{name}.decay_steps"] == [step]


def test_an_unknown_experiment_name_is_a_clear_error():
    plan = experiments.ASSIGNMENT
    with pytest.raises(
        ConfigError, match=r"unknown experiment 'vea' in --only; known: vae, vae_z2"
    ):
        plan.select(["vae", "vea"])
    assert [e.name for e in plan.select(["aae", "vae"])] == ["vae", "aae"]
    assert len(plan.select(None)) == len(experiments.EXPERIMENTS)


@pytest.mark.parametrize("plan", experiments.PLANS)
def test_a_report_from_a_root_without_runs_is_an_error_and_keeps_the_published_one(tmp_path, plan):
    # A misspelt --root with --report_only would write the report of nothing over docs/.
    docs = tmp_path / "docs"
    (docs / "figures" / "vae").mkdir(parents=True)
    (docs / "figures" / "vae" / "samples_epoch_0.png").write_bytes(b"png")
    report = docs / experiments.PLANS[plan].report_file
    report.write_text("the published report")
    (tmp_path / "runs" / "vae").mkdir(parents=True)  # a folder, but no run in it
    options = reproduce.Options(root=str(tmp_path / "runs"), docs_dir=str(docs), report_only=True)
    with pytest.raises(ConfigError, match=r"holds no run of the \w+ plan .*: nothing written"):
        reproduce.main(experiments.PLANS[plan], options)
    assert report.read_text() == "the published report"
    assert sorted(p.name for p in docs.rglob("*")) == sorted(
        ["figures", "vae", "samples_epoch_0.png", report.name]
    )


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


# ----------------------------------------------------------------------------- log-likelihood


def test_log_likelihood_step_calls_the_evaluator_once(tmp_path):
    workdir = str(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": "vae"}))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "val_bpd": 4.0}) + "\n")
    calls = []

    def evaluate_workdir(workdir, *, num_images=None, split="test", **kwargs):
        calls.append((workdir, num_images, split))
        with open(os.path.join(workdir, "log_likelihood.json"), "w") as f:
            json.dump({"num_images": num_images}, f)
        return {"num_images": num_images}

    run = functools.partial(reproduce.evaluate_log_likelihood, workdir)
    assert run(7, False, evaluate_workdir) == {"num_images": 7}
    assert calls == [(workdir, 7, "val")]
    assert run(7, True, evaluate_workdir) is None  # done
    assert run(9, True, evaluate_workdir) == {"num_images": 9}
    assert calls[-1] == (workdir, 9, "test")


# ----------------------------------------------------------------------------- sessions


@pytest.mark.parametrize(
    "error, left", [(RuntimeError("boom"), "stopped: RuntimeError"), (ConfigError("no"), None)]
)
def test_a_failed_session_is_recorded_and_a_refused_one_is_not(
    tmp_path, mnist_dir, error, left, monkeypatch
):
    class Failing:
        def __init__(self, config):
            pass

        def train_and_evaluate(self, workdir):
            raise error

    monkeypatch.setattr(kinds, "trainer_class", lambda kind: Failing)
    with pytest.raises(type(error)):
        reproduce.run_experiment(EXPERIMENTS["aae"], str(tmp_path), data_dir=mnist_dir)
    path = tmp_path / "aae" / run_files.RECORD
    if left is None:
        assert not (tmp_path / "aae").exists()
    else:
        (session,) = json.loads(path.read_text())["sessions"]
        assert session["status"] == left and "wall_s" in session


# ----------------------------------------------------------------------------- end to end


def test_a_tiny_experiment_end_to_end_and_the_rerun_skips_it(tmp_path, mnist_dir):
    def get_config():
        config = make_tiny_aae_config("")  # the data folder comes from make_config
        config.num_epochs = 4
        config.sample_epochs = (0, 2, 4)
        config.checkpoint_epochs = (0, 4)
        return config

    exp = plans.Experiment(
        "tiny_ae",
        get_config,
        "Q2.6",
        "tiny autoencoder",
        ("reconstructions", "samples", "latent_scatter", "loss_curve"),
    )
    root, docs = str(tmp_path / "runs"), str(tmp_path / "docs")
    options = reproduce.Options(
        root, docs, epoch_scale=0.5, data_dir=mnist_dir, limit=64, num_samples=20
    )
    samples = plans.SampleQuality(
        (exp,), (("Q2.5", "tiny_ae"),), (), experiments.SAMPLE_QUALITY.paper, ("tiny_ae",)
    )
    path = reproduce.main(plan_of(exp, samples=samples, explore=(exp,)), options)
    text = open(path).read()
    assert "epoch 1 (config: 2)" in text and "epoch 2 (config: 4)" in text
    assert "2 run of the config's 4 (epoch scale 0.5); complete" in text
    assert ": 64 train, 20 val, 50 test" in text  # the data's own description
    for name in ("latent_scatter.png", "samples_epoch_2.png", "reconstructions_epoch_1.png"):
        assert os.path.exists(os.path.join(docs, "figures", "tiny_ae", name)), name
    record = json.load(open(os.path.join(root, "tiny_ae", run_files.RECORD)))
    (session,) = record["sessions"]
    assert (session["from_epoch"], session["to_epoch"], session["status"]) == (None, 2, "finished")
    assert session["machine"]["backend"] == "cpu"

    # The sample epochs (0, 1, 2 at this scale; each has a checkpoint) are scored, and the
    # sample-quality report is written beside the plan's and linked from it.
    quality = os.path.join(root, "tiny_ae", run_files.SAMPLE_QUALITY)
    assert list(json.load(open(quality))) == ["0", "1", "2"]
    assert "[sample_quality.md](sample_quality.md)" in text
    sample_text = open(os.path.join(docs, "sample_quality.md")).read()
    progression = "**Q2.5** (`tiny_ae`, decoded prior draws, (x + 1) / 2): over epochs 0, 1, 2"
    assert progression in sample_text
    assert "| `tiny_ae`, epoch 2, 20 samples |" in sample_text  # beside Table 1
    # The z 2 run's latent plane explorer, linked from the report.
    assert os.path.exists(os.path.join(docs, "explorer", "tiny_ae_tiles.png"))
    assert "[explorer/index.html](explorer/index.html)" in text

    stamp = os.path.getmtime(quality)
    reproduce.main(plan_of(exp, samples=samples), options)  # finished and scored: skipped
    assert len(json.load(open(os.path.join(root, "tiny_ae", run_files.RECORD)))["sessions"]) == 1
    assert os.path.getmtime(quality) == stamp


def test_seeds_and_the_full_scale_data_train_into_their_own_workdirs(
    tmp_path, mnist_dir, fake_trainers
):
    def get_config():
        config = make_tiny_aae_config("")
        config.update(num_epochs=1, sample_epochs=(0, 1), checkpoint_epochs=(0, 1))
        return config

    exp = plans.Experiment(
        "tiny", get_config, "Q2.5", "tiny AAE", ("samples",), reference=experiments.AAE_RECON
    )
    root, docs = tmp_path / "runs", str(tmp_path / "docs")
    options = reproduce.Options(
        str(root), docs, data_dir=mnist_dir, limit=64, seeds=[42, 7], full_scale_data=mnist_dir
    )
    path = reproduce.main(plan_of(exp), options)
    assert sorted(os.listdir(root)) == ["full_scale", "tiny", "tiny-seed7"]  # 42 is the config's
    assert json.load(open(root / "tiny-seed7" / "config.json"))["seed"] == 7
    full = json.load(open(root / "full_scale" / "tiny" / "config.json"))
    assert full["data"]["limit"] == 0  # the full-scale data is used whole
    text = open(path).read()
    assert "## Seed spread of the headline numbers" in text
    # The row's validation cell is the mean ± sample standard deviation of the two runs' last
    # epochs, and its last cell the two runs' wall clocks.
    loaded = [runs.load_run(str(root / d)) for d in ("tiny", "tiny-seed7")]
    last = [run.rows[-1]["val_recon_loss"] for run in loaded]
    row = next(line for line in text.splitlines() if line.startswith("| `tiny` | 42, 7 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4] == f"{statistics.fmean(last):.4f} ± {statistics.stdev(last):.4f}"
    assert re.fullmatch(r"\d+m\d\ds, \d+m\d\ds", cells[6]), cells[6]
    assert "## F1. tiny AAE (Q2.5)" in text


def test_sweeps_train_each_variant_and_seed_shortened(tmp_path, mnist_dir, fake_trainers):
    exp = plans.Experiment("tiny", lambda: make_tiny_aae_config(""), "Q2.4", "tiny", ())
    sweep = plans.Sweep(
        "s",
        "tiny sweep",
        ("tiny",),
        (3, 4),
        1,
        (plans.Variant("v1", "one"), plans.Variant("v2", "two", (("lambda_", 1.0),))),
    )
    root = tmp_path / "runs"
    options = reproduce.Options(
        str(root), str(tmp_path / "docs"), data_dir=mnist_dir, limit=32, run_sweeps=True
    )
    reproduce.main(plan_of(exp, sweeps=(sweep,)), options)
    for variant, lambda_ in (("v1", 0.995), ("v2", 1.0)):
        for seed in (3, 4):
            config = json.load(
                open(root / "sweeps" / "s" / variant / f"tiny-seed{seed}" / "config.json")
            )
            assert (config["seed"], config["lambda_"], config["num_epochs"]) == (seed, lambda_, 1)


def test_the_seeds_train_the_headline_experiments_of_each_plan(tmp_path):
    options = reproduce.Options(root=str(tmp_path), docs_dir=str(tmp_path), seeds=[1, 2, 42])
    seeded = {
        name: sorted(
            run.kwargs["seed"]
            for run in reproduce.planned_runs(plan, plan.experiments, options)
            if "seed" in run.kwargs
        )
        for name, plan in experiments.PLANS.items()
    }
    headlines = {
        name: [e for e in plan.experiments if e.headline]
        for name, plan in experiments.PLANS.items()
    }
    for name in experiments.PLANS:  # seed 42 is the configs' own
        assert seeded[name] == [1] * len(headlines[name]) + [2] * len(headlines[name]), name
    assert [e.name for e in experiments.ASSIGNMENT.experiments if e.headline] == ["vae", "aae"]
    assert [e.name for e in experiments.PRIORS.experiments if e.headline] == [
        "aae_z2_mixture_labels",
        "aae_z2_swiss_roll_labels",
    ]
    # --seeds's help names them, plan by plan.
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "reproduce.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    text = " ".join(out.stdout.split())
    listed = "; ".join(f"{n}: {', '.join(e.name for e in h)}" for n, h in headlines.items())
    assert f"Headline: {listed}." in text
