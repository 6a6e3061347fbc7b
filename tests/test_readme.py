"""README.md's and docs/'s commands: every line of their shell code blocks runs here, with tiny
settings; the numbers README copies from the reports stand in them.

`COVERED` maps each command to the test that runs it; a command missing from it (or a stale
entry) fails `test_every_documented_command_is_covered`. A command CI cannot run for want of
hardware or network is marked by a comment saying what it "needs", and is skipped. Commands run
with their own words in a temporary folder that links scripts/ and configs/, followed by the
overrides that make them tiny (absl takes the last value of a flag).
"""

import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from configs import aae_semi_100_supervised

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NEEDS = re.compile(r"\bneeds (a|an|the) ")
DOC_PAGES = ("experiments", "reliability", "performance", "design")  # docs/ pages, not reports

# Overrides that shrink the experiments' configs (tiny models, two small epochs at most).
TINY_MODEL = (
    "--config.num_filters=4 --config.batch_size=16 --config.eval_batch_size=16 "
    "--config.num_samples=4"
)
TINY_VAE = f"{TINY_MODEL} --config.z_dim=2 --config.manifold_size=3"
TINY_AAE = f"{TINY_MODEL} --config.z_dim=2 --config.disc_hidden=16"


PAGES = ("README.md", *(f"docs/{page}.md" for page in DOC_PAGES))


def readme_commands() -> list[tuple[str, str]]:
    """(command, comment) for every line of the pages' ```sh blocks, continuations joined."""
    text = ""
    for page in PAGES:
        with open(os.path.join(ROOT, page)) as f:
            text += f.read()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command, _, comment = line.partition(" #")
            if command.strip():
                commands.append((" ".join(command.split()), comment.strip()))
    return commands


# The test that runs each README command.
TESTS = {
    "test_setup_commands_are_what_ci_runs": (
        'pip install -e ".[test]" && pytest',
        "pytest -m slow",
        "ruff check . && ruff format --check .",
        "apt-get update && apt-get install -y chromium",
    ),
    "test_train_sample_evaluate_a_vae": (
        "pip install -e . && python scripts/train_vae.py --workdir runs/vae",
        "python scripts/train_vae.py --workdir runs/quick --config.num_epochs=3 "
        "--config.data.limit=6400",
        "python scripts/sample.py --workdir runs/vae --epoch 10 --out samples.png",
        "python scripts/evaluate_vae.py --workdir runs/vae --num_images 1000",
    ),
    "test_train_look_explore_an_aae": (
        "python scripts/train_aae.py --workdir runs/aae",
        "tensorboard --logdir runs",
        "python scripts/evaluate_samples.py --workdir runs/aae --epoch 100",
        "python scripts/explore.py --workdir runs/vae_z2",
    ),
    "test_reproduce_commands": (
        "python scripts/reproduce.py",
        "python scripts/reproduce.py --plan priors",
        "python scripts/reproduce.py --plan paper",
        "python scripts/reproduce.py --report_only",
        "python scripts/reproduce.py --epoch_scale 0.1",
        "python scripts/reproduce.py --plan priors --data_dir MNIST_T10K_FOLDER --seeds 42,1,2",
        "python scripts/reproduce.py --plan paper --data_dir MNIST_FOLDER --seeds 42,1,2",
        "python scripts/reproduce.py --data_dir MNIST_T10K_FOLDER --num_images 500 --seeds 42,1,2 "
        "--sweeps --full_scale_data FASHION_MNIST_FOLDER",
    ),
    "test_benchmark_command": (
        "python scripts/benchmark.py --data_dir FOLDER --rounds 3 --epochs 3 "
        "--torch_reference PATH/torch_reference.py --torch_python PATH/TO/TORCH/python",
        "python scripts/benchmark.py --mode steps --conv_impl auto,xla --rounds 5 --steps 20 "
        "--torch_reference PATH/torch_reference.py --torch_python PATH/TO/TORCH/python",
        "python scripts/benchmark.py --mode convs --models vae,aae --rounds 5 --steps 10",
        "export GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
        "python scripts/time_full_runs.py --data_dir FOLDER",
    ),
}
COVERED = {command: test for test, commands in TESTS.items() for command in commands}


def test_every_documented_command_is_covered():
    commands = readme_commands()
    runnable = {c for c, comment in commands if not NEEDS.search(comment)}
    assert runnable == set(COVERED), "documented commands and tests/test_readme.py differ"
    for command, comment in commands:
        if NEEDS.search(comment):  # the README says what it needs, hence why CI cannot run it
            assert command not in COVERED


INSTALL = "pip install -e . && "


@pytest.fixture
def sandbox(tmp_path, mnist_dir):
    """A folder that looks like the repository's root to README's commands, and a runner."""
    for name in ("scripts", "configs"):
        os.symlink(os.path.join(ROOT, name), tmp_path / name)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]  # python, tensorboard

    def run(command: str, *overrides: str, input_dir: str = mnist_dir) -> str:
        assert command in COVERED, f"not a README command: {command}"
        # The install is CI's own first line (pip install -e ".[test]"): not again per test.
        command = command.removeprefix(INSTALL)
        line = " ".join([command, *overrides]).replace("MNIST_FOLDER", input_dir)
        done = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    run.path = tmp_path
    return run


def test_setup_commands_are_what_ci_runs():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    for command in TESTS["test_setup_commands_are_what_ci_runs"]:
        assert command in ci, command
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    extras = project["project"]["optional-dependencies"]
    assert {"test", "tensorboard", "cuda12", "cuda13", "tpu"} <= set(extras)
    assert any(dep.startswith("tensorboard") for dep in extras["tensorboard"])
    # `pytest` deselects the slow tests, `pytest -m slow` runs them: together, every test.
    assert "-m 'not slow'" in project["tool"]["pytest"]["ini_options"]["addopts"]
    # The linters as README runs them, from this interpreter's environment (not from PATH).
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed in this environment (pip install -e '.[test]')")
    for check in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *check], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_installed_commands_are_readmes_and_each_runs_its_script():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    commands = project["project"]["scripts"]
    text = " ".join(open(os.path.join(ROOT, "README.md")).read().split())
    listed = re.search(
        r"Installed, the scripts are also the commands (.+?); each has `--help`", text
    )
    assert listed is not None
    assert re.findall(r"`([\w-]+)`", listed.group(1)) == list(commands)
    # Each is the `run` of a script of scripts/ (installed as vae_aae_scripts).
    dirs = project["tool"]["setuptools"]["package-dir"]
    for target in commands.values():
        module, function = target.split(":")
        package, name = module.split(".")
        source = open(os.path.join(ROOT, dirs[package], f"{name}.py")).read()
        assert f"def {function}():" in source, target
    # Installed (pip install -e ".[test]", as README says), the first answers --help.
    bin_dir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bin_dir, "vae-aae-train")):
        pytest.skip("the commands are not installed in this environment")
    assert all(os.path.exists(os.path.join(bin_dir, c)) for c in commands)
    done = subprocess.run(
        [os.path.join(bin_dir, "vae-aae-train"), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--config" in done.stdout, done.stderr[-2000:]


# Two tests, so that the two workers run them side by side. The session's tiny runs (conftest)
# compiled what these tiny commands compile: the commands find it in the compilation cache they
# share, as a user's second run does.
DATA = "--data_dir MNIST_FOLDER --config.num_epochs=1"


def test_train_sample_evaluate_a_vae(sandbox, vae_run):
    sandbox("pip install -e . && python scripts/train_vae.py --workdir runs/vae", DATA, TINY_VAE)
    sandbox(
        "python scripts/train_vae.py --workdir runs/quick --config.num_epochs=3 "
        "--config.data.limit=6400",
        DATA,
        TINY_VAE,
        "--config.data.limit=0",
    )
    assert (sandbox.path / "runs" / "quick" / "bpd_curve.png").exists()
    out = sandbox(
        "python scripts/sample.py --workdir runs/vae --epoch 10 --out samples.png", "--epoch 1"
    )
    assert "wrote samples.png" in out and os.path.getsize(sandbox.path / "samples.png") > 0
    sandbox(
        "python scripts/evaluate_vae.py --workdir runs/vae --num_images 1000",
        "--num_images 8 --ks 1,10",
    )
    with open(sandbox.path / "runs" / "vae" / "log_likelihood.json") as f:
        assert json.load(f)["num_images"] == 8


def test_train_look_explore_an_aae(sandbox, aae_run):
    sandbox("python scripts/train_aae.py --workdir runs/aae", DATA, TINY_AAE)
    # --inspect reads the event files and exits, instead of serving them until stopped.
    out = sandbox("tensorboard --logdir runs", "--inspect")
    assert "train/recon_loss" in out and "train/disc_loss" in out
    out = sandbox(
        "python scripts/evaluate_samples.py --workdir runs/aae --epoch 100",
        "--epoch 1 --num_samples 40 --classifier_dir classifiers",  # not the user's cache
    )
    assert "aae epoch 1: 40 samples" in out and "real (ceiling)" in out
    with open(sandbox.path / "runs" / "aae" / "sample_quality.json") as f:
        assert list(json.load(f)) == ["1"]
    # The tiny AAE has z 2 (TINY_AAE), so it stands in for README's VAE z 2.
    out = sandbox("python scripts/explore.py --workdir runs/vae_z2", "--workdir runs/aae")
    assert "runs/aae/explorer/index.html: open it in a browser" in out
    assert (sandbox.path / "runs" / "aae" / "explorer" / "aae_tiles.png").exists()


@pytest.mark.slow  # four runs of the full-size VAE: README's second test command runs it
def test_reproduce_commands(sandbox):
    # One experiment of the eight, one epoch (the scale floors at one), then a second, 180 images
    # (tests/test_common_experiments_reproduce.py trains an AAE experiment through the same code).
    tiny = "--only vae --data_dir MNIST_FOLDER --num_images 0 --docs docs --num_samples 40"
    sandbox("python scripts/reproduce.py", tiny, "--epoch_scale 0.01")
    sandbox("python scripts/reproduce.py --epoch_scale 0.1", tiny, "--epoch_scale 0.02")
    sandbox("python scripts/reproduce.py --report_only", "--docs docs")
    text = (sandbox.path / "docs" / "results.md").read_text()
    assert "## 1. VAE, z 20" in text and "- **Epochs**: 2 run of the config's 80" in text
    assert "`configs/ae_z2.py`: not run yet." in text
    out = sandbox(
        "python scripts/reproduce.py --data_dir MNIST_T10K_FOLDER --num_images 500 --seeds 42,1,2 "
        "--sweeps --full_scale_data FASHION_MNIST_FOLDER",
        "--only vae --epoch_scale 0.02 --num_images 4 --docs docs --seeds 42 --nosweeps "
        "--num_samples 40",
        "--data_dir MNIST_FOLDER --full_scale_data MNIST_FOLDER",
    )
    assert "results.md" in out
    text = (sandbox.path / "docs" / "results.md").read_text()
    assert "# Full scale" in text and "Importance-weighted" in text
    samples = (sandbox.path / "docs" / "sample_quality.md").read_text()
    assert "**Q1.8** (`vae`, each pixel's mean / 15): over epochs" in samples
    assert "Full scale:" in samples
    # The other plan: its own report and figures beside the assignment's, which stays as it was.
    sandbox(
        "python scripts/reproduce.py --plan priors",
        "--only aae_z2_mixture_labels --data_dir MNIST_FOLDER --epoch_scale 0.01 --docs docs "
        "--num_samples 40",
    )
    priors = (sandbox.path / "docs" / "priors.md").read_text()
    heading = "## 4. AAE, z 2, a mixture of 10 Gaussians, label-guided (a fifth of the images "
    assert heading + "labelled) (paper Fig. 4)" in priors
    assert "`configs/aae_z2_swiss_roll_labels.py`: not run yet." in priors
    assert "figures/priors/aae_z2_mixture_labels/latent_scatter.png" in priors
    assert "--plan=priors" in priors  # the command the run was trained with
    assert "[explorer/index.html](explorer/index.html)" in priors  # the z 2 run's page
    assert (sandbox.path / "docs" / "results.md").read_text() == text
    # README's results command of that plan: the label-guided run again at another seed.
    sandbox(
        "python scripts/reproduce.py --plan priors --data_dir MNIST_T10K_FOLDER --seeds 42,1,2",
        "--only aae_z2_mixture_labels --data_dir MNIST_FOLDER --epoch_scale 0.01 --seeds 42,7",
        "--docs docs --num_samples 40",
    )
    priors = (sandbox.path / "docs" / "priors.md").read_text()
    assert "| `aae_z2_mixture_labels` | mixture of 10 Gaussians" in priors
    assert "| 1 | 42, 7 | " in priors  # epoch 1, the two seeds in the gallery's table
    # The paper's plan: the baseline (the classification phase alone, no adversary), one epoch.
    sandbox(
        "python scripts/reproduce.py --plan paper",
        "--only aae_semi_100_supervised --data_dir MNIST_FOLDER --epoch_scale 0.05 --docs docs "
        "--num_samples 0",
    )
    paper = (sandbox.path / "docs" / "paper.md").read_text()
    assert "| Table 2 | 100 labels | 1.90 ± 0.10 | 3 | not run yet |" in paper
    assert "figures/paper/aae_semi_100_supervised/confusion_matrix.png" in paper
    assert (sandbox.path / "docs" / "priors.md").read_text() == priors
    # README's published command of that plan: the finished run skipped, the report rewritten.
    out = sandbox(
        "python scripts/reproduce.py --plan paper --data_dir MNIST_FOLDER --seeds 42,1,2",
        "--only aae_semi_100_supervised --epoch_scale 0.05 --docs docs",
    )
    epochs = math.ceil(0.05 * aae_semi_100_supervised.get_config().num_epochs)
    assert f"aae_semi_100_supervised: complete ({epochs} epochs); skipped." in out
    assert (sandbox.path / "docs" / "paper.md").read_text() == paper


@pytest.mark.slow  # several trainings of the full-size AAE: README's second test command
def test_benchmark_command(sandbox, tmp_path, mnist_dir):
    # A stand-in for the PyTorch reference: answers `speed` and `train` in its formats.
    fake = tmp_path / "torch_reference.py"
    fake.write_text(
        "import json, sys\n"
        "a = sys.argv[1:]\n"
        "if a[0] == 'speed':\n"
        "    batch = int(a[a.index('--batch') + 1])\n"
        "    print(json.dumps({'impl': 'torch', 'step_ms_median': 100.0, 'batch': batch}))\n"
        "else:\n"
        "    for e in range(1, int(a[a.index('--epochs') + 1]) + 1):\n"
        "        print(json.dumps({'epoch': e, 'seconds': 0.3}))\n"
    )
    reference = f"--torch_reference {shlex.quote(str(fake))} --torch_python {sys.executable}"
    out = sandbox(
        "python scripts/benchmark.py --data_dir FOLDER --rounds 3 --epochs 3 "
        "--torch_reference PATH/torch_reference.py --torch_python PATH/TO/TORCH/python",
        reference,
        f"--data_dir {mnist_dir} --rounds 2 --epochs 2 --models aae",
    )
    (summary,) = [json.loads(line) for line in out.splitlines() if '"summary": true' in line]
    assert summary["model"] == "aae" and summary["speed_ratio_vs_torch"] > 0
    # Our second run found the compiled programs in the cache the first one filled.
    assert summary["first_epoch_done_s_later_runs"] < summary["first_epoch_done_s_first_run"]
    out = sandbox(
        "python scripts/benchmark.py --mode steps --conv_impl auto,xla --rounds 5 --steps 20 "
        "--torch_reference PATH/torch_reference.py --torch_python PATH/TO/TORCH/python",
        reference,
        "--conv_impl auto --rounds 1 --steps 2 --epoch_steps 2 --models aae --batch 8",
    )
    summary = [json.loads(line) for line in out.splitlines() if '"summary": true' in line]
    assert summary and all(row["ratio_vs_torch"] > 0 for row in summary)
    out = sandbox(
        "python scripts/benchmark.py --mode convs --models vae,aae --rounds 5 --steps 10",
        "--models aae --batch 8 --rounds 1 --steps 2",
    )
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (summary,) = [row for row in rows if row.get("summary")]
    layers = [row for row in rows if "layer" in row]
    assert len(layers) == 10 and "ConvTranspose 14x14" in layers[-1]["layer"]
    assert summary["step_ms_in_epoch"] > 0 and summary["convs_alone_ms"] > 0
    out = sandbox(
        "export GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
        "&& python -c 'import jax.numpy as jnp; print(float(jnp.ones(3).sum()))'",
    )
    assert "3.0" in out
    out = sandbox(
        "python scripts/time_full_runs.py --data_dir FOLDER",
        f"--data_dir {mnist_dir} --epochs 1 --models aae",
    )
    (row,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert row["model"] == "aae" and row["epochs"] == 1 and row["seconds"] > 0


def test_the_results_table_quotes_the_reports_it_links():
    # README's headline numbers are copied from the reports scripts/reproduce.py computes from
    # the workdirs: every number of a row stands in one row of the report that row links, a row
    # of the experiment the README row names, a mean ± standard deviation whole, with its seeds.
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Results") : text.index("## Data, configs, workdirs")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "](docs/" in line]
    assert len(rows) >= 4
    for row in rows:
        (report,) = re.findall(r"\]\((docs/[\w/]+\.md)\)", row)
        name = re.match(r"\| `(\w+)`, ", row)
        assert name, f"the row does not begin with its experiment's name: {row}"
        source = open(os.path.join(ROOT, report)).read().splitlines()
        lines = [line for line in source if line.startswith(f"| `{name.group(1)}`")]
        _, seeds, ours, *_ = row.split(" | ")
        several = re.search(r"seeds ([\d, ]+)$", seeds)
        wanted = [
            *re.findall(r"\d+\.\d+ ± \d+\.\d+", ours),
            *re.findall(r"(?<![\w.])\d+\.\d+(?![\d])", ours),
            *([several.group(1)] if several else []),
        ]
        assert re.search(r"\d\.\d", ours), row
        assert any(all(w in line for w in wanted) for line in lines), f"{report}: {wanted}: {row}"


def test_the_workdir_list_is_the_one_list_of_run_files():
    from common.train import run_files

    text = open(os.path.join(ROOT, "README.md")).read()
    block = text[text.index("### What a workdir holds") :].split("```")[1]
    listed = re.findall(r"^  (\S+)", block, re.M)  # first word of each entry, indented 2
    tops = {name.split("/")[0] for name in listed}  # samples/epoch_N.png -> samples
    assert tops == set(run_files.FILES), tops ^ set(run_files.FILES)


def test_the_fault_table_names_tests_that_exist():
    text = open(os.path.join(ROOT, "docs", "reliability.md")).read()
    table = text[text.index("| fault | what happens |") :]
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", table)
    assert len(named) >= 15
    for module, function in named:
        source = open(os.path.join(ROOT, "tests", module)).read()
        assert not function or f"def {function}(" in source, f"{module}::{function} is gone"


@pytest.mark.parametrize("name", ["ae_z8", "ae_z2"])
def test_the_configs_seed_tables_are_the_reports(name):
    # configs/ae_z8.py and ae_z2.py quote the warm-up sweep to 3 decimals; docs/results.md has it
    # as scripts/reproduce.py computed it, to 4.
    doc = open(os.path.join(ROOT, "configs", f"{name}.py")).read()
    quoted = re.findall(r"^\s+(warm-up 100 steps|no warm-up)\s+(.+)$", doc, re.M)
    report = open(os.path.join(ROOT, "docs", "results.md")).read()
    variants = {"warm-up 100 steps": "a warm-up of 100 steps", "no warm-up": "no warm-up"}
    assert len(quoted) == 2
    for variant, cells in quoted:
        row = re.search(rf"^\| `{name}` \| {variants[variant]}[^|]* \|(.+)\|[^|]+\|$", report, re.M)
        measured = [float(v) for v in re.findall(r"\d\.\d{4}", row.group(1))]
        quoted_values = [float(v) for v in re.findall(r"\d\.\d{3}", cells)]
        # Both are roundings of the same number: 3 decimals against 4 differ by at most 0.00055.
        assert len(quoted_values) == len(measured) == 10, (cells, measured)
        assert quoted_values == pytest.approx(measured, abs=0.00055), (variant, cells, measured)


def test_the_two_line_model_runs_as_written(vae_run):
    # README's python block, with the session's tiny VAE run for runs/vae, in a new process.
    text = open(os.path.join(ROOT, "README.md")).read()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    code = block.replace('"runs/vae"', repr(vae_run.workdir)) + (
        "import numpy as np\n"
        "x = np.zeros((3, 28, 28, 1), np.uint8)\n"
        "print(model.kind, model.epoch, model.encode(x).shape, model.reconstruct(x).shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "vae 2 (3, 2) (3, 28, 28, 1)" in done.stdout, done.stdout


def test_every_relative_link_and_picture_of_the_pages_exists():
    # README's figure and every page it links must be in the repository, not only promised.
    missing = []
    for page in PAGES:
        folder = os.path.dirname(os.path.join(ROOT, page))
        with open(os.path.join(ROOT, page)) as f:
            targets = re.findall(r"\]\(([^)\s]+)\)", f.read())
        for target in targets:
            if "://" in target or target.startswith("#"):
                continue
            if not os.path.exists(os.path.join(folder, target.split("#")[0])):
                missing.append(f"{page}: {target}")
    assert not missing, missing
