"""The scripts' command lines: bad input ends in one line `error: ...` (exit 1; 2 for a usage
error), with no traceback and nothing written."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, fake_digits, run_cli, tiny_flags, write_idx


def assert_one_line_error(result, message: str, code: int) -> None:
    assert result.returncode == code, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_bad_data_and_values_are_one_line_and_write_nothing(tmp_path, mnist_dir):
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
        (
            tiny_flags(mnist_dir, str(tmp_path / "w4"), 1, extra=["--config.learning_rate=nan"]),
            "config.learning_rate=nan must be finite and > 0",
        ),
    ]
    for args, message in cases:
        assert_one_line_error(run_cli(args), message, 1)
        assert not os.path.exists(args[2].split("=", 1)[1])


def test_a_workdir_that_cannot_be_written_is_one_line(tmp_path, mnist_dir):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for workdir in (a_file, a_file / "run"):
        result = run_cli(tiny_flags(mnist_dir, str(workdir), 1))
        assert_one_line_error(result, f"cannot use {workdir} as a workdir", 1)
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config=nowhere.py"], "the config file nowhere.py does not exist"),
        (["--config=SYNTAX"], "does not parse: line 1: invalid syntax"),
        (["--config.z_dimm=3"], "unknown config field 'z_dimm' Did you mean \"z_dim\""),
        (["--config.z_dim=2.5"], "flag --config.z_dim=2.5: invalid literal for int()"),
        (["--no_such_flag"], "Unknown command line flag 'no_such_flag'"),
    ],
)
def test_command_line_usage_errors_exit_2_before_anything_runs(tmp_path, extra, message):
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def get_config(:\n")
    extra = [x.replace("SYNTAX", str(syntax)) for x in extra]
    args = [sys.executable, "scripts/train_vae.py", f"--workdir={tmp_path / 'w'}", *extra]
    assert_one_line_error(run_cli(args, timeout=60), message, 2)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize(
    "script, extra, message",
    [
        ("sample.py", ["--num_samples=0"], "flag --num_samples=0: 0 is not a positive"),
        ("evaluate_vae.py", ["--ks=abc"], "--ks takes a comma-separated list of integers >= 1"),
        ("evaluate_vae.py", ["--ks="], "--ks takes a comma-separated list of integers >= 1"),
        ("evaluate_vae.py", ["--num_images=0"], "flag --num_images=0: 0 is not a positive"),
    ],
)
def test_bad_flags_of_the_other_scripts_write_nothing(tmp_path, script, extra, message):
    (tmp_path / "config.json").write_text('{"model": "vae"}')  # a workdir they would write to
    args = [sys.executable, f"scripts/{script}", f"--workdir={tmp_path}", *extra]
    assert_one_line_error(run_cli(args, timeout=60), message, 2)
    assert os.listdir(tmp_path) == ["config.json"]


def test_sample_of_a_folder_without_a_run_is_one_line(tmp_path):
    args = [sys.executable, "scripts/sample.py", f"--workdir={tmp_path}"]
    assert_one_line_error(run_cli(args, timeout=60), "holds no run (config.json is missing)", 1)


def test_the_compilation_cache_is_written_then_read_without_a_warning(tmp_path):
    # The folder already holds an entry of another JAX program (a capped cache, which needs
    # `filelock`, would fail every write there); ours is written, then read, without a warning.
    plain = (
        f"import jax; jax.config.update('jax_compilation_cache_dir', {str(tmp_path / 'cache')!r});"
        "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0);"
        "print(jax.jit(lambda x: x - 1)(1.0))"
    )
    subprocess.run([sys.executable, "-c", plain], check=True, capture_output=True, timeout=120)
    before = set(os.listdir(tmp_path / "cache"))
    code = (
        "from common import cli; cli.enable_compilation_cache(); import jax, jax.numpy as jnp;"
        "print(jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).sum())"
    )
    env = os.environ | {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):  # the first run writes the entry, the second reads it
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0 and done.stdout.strip() == "9.0", done.stderr[-2000:]
        assert "cache" not in done.stderr.lower(), done.stderr[-2000:]
    assert set(os.listdir(tmp_path / "cache")) > before


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["sample.py", "--workdir=WD", "--out=grid.xyz"], "the name must end in one of .", 1),
        (["sample.py", "--workdir=BROKEN"], "config.json is not a config this project wrote", 1),
        (["benchmark.py", "--mode=steps", "--rounds=0"], "--rounds must be at least 1", 2),
        (["benchmark.py", "--data_dir=WD/none", "--torch_reference=x.py"], "does not exist", 1),
        (["benchmark.py", "--batch=32", "--data_dir=WD"], "--mode epochs does not read --batch", 1),
        (["benchmark.py", "--mode=convs", "--epochs=2"], "--mode convs does not read --epochs", 1),
        (["reproduce.py", "--epoch_scale=inf", "--root=WD/r", "--docs=WD/d"], "a number > 0", 1),
        (["reproduce.py", "--root=WD/config.json", "--docs=WD/d"], "is a file, not a folder", 1),
    ],
)
def test_more_bad_arguments_are_one_line(tmp_path, args, message, code):
    (tmp_path / "config.json").write_text('{"model": "vae"}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model": ')  # a half-written file
    broken = str(tmp_path / "broken")
    args = [a.replace("WD", str(tmp_path)).replace("BROKEN", broken) for a in args]
    assert_one_line_error(run_cli([sys.executable, f"scripts/{args[0]}", *args[1:]]), message, code)
    assert sorted(os.listdir(tmp_path)) == ["broken", "config.json"]


def test_labels_on_a_folder_without_label_files_is_one_line_and_writes_nothing(tmp_path):
    # Images without their label files: fine for the unguided priors, not for label guidance.
    # (The prior's config errors are ConfigErrors, one line like the others: test_aae_train.py.)
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    images, _ = fake_digits(120, 0)
    write_idx(str(unlabelled / "train-images-idx3-ubyte.gz"), images)
    workdir = tmp_path / "run"
    extra = ["--config.prior.name=swiss_roll", "--config.prior.labels=True"]
    args = tiny_flags(str(unlabelled), str(workdir), 1, "train_aae.py", extra)
    message = "config.prior.labels=True needs the training images' labels"
    assert_one_line_error(run_cli(args), message, 1)
    assert not workdir.exists()


SCRIPTS = sorted(
    f for f in os.listdir(os.path.join(ROOT, "scripts")) if f.endswith(".py") and f[0] != "_"
)
SHARED_TRAIN_FLAGS = {"config", "workdir", "data_dir", "fresh", "distributed"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_each_flag_with_its_line_and_exits_0(script):
    source = open(os.path.join(ROOT, "scripts", script)).read()
    own = set(re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', source))
    if "define_train_flags" in source:
        own |= SHARED_TRAIN_FLAGS
    assert own, script
    done = run_cli([sys.executable, f"scripts/{script}", "--help"], timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = set(re.findall(r"^  --(?:\[no\])?(\w+) +\S", done.stdout, re.M))
    assert listed == own, (script, listed ^ own)


def test_a_missing_required_flag_is_one_line_naming_it(tmp_path):
    for script in ("sample.py", "train_aae.py"):
        result = run_cli([sys.executable, f"scripts/{script}"], timeout=60)
        assert_one_line_error(result, "--workdir is required: Run directory", 2)


def test_config_takes_a_name_and_any_config_trains_with_its_own_kind(tmp_path, mnist_dir):
    # The AAE's config by name through the VAE's script: its own trainer checks its fields.
    args = tiny_flags(mnist_dir, str(tmp_path / "w"), 1, extra=["--config.lambda_=2"])
    args.insert(2, "--config=aae")
    assert_one_line_error(run_cli(args), "lambda_=2.0 must be in [0, 1]", 1)
    args = [sys.executable, "scripts/train_vae.py", "--config", "vea", f"--workdir={tmp_path}"]
    assert_one_line_error(run_cli(args, timeout=60), "(a name: one of aae, aae_cluster_16,", 2)


def test_each_benchmark_flag_says_which_modes_read_it():
    # What scripts/benchmark.py refuses to ignore (MODE_FLAGS) is what each flag's help says.
    code = (
        "import json; from scripts import benchmark as b;"
        "print(json.dumps({n: [m for m in b.MODE_FLAGS if n in b.MODE_FLAGS[m]]"
        " for n in set().union(*b.MODE_FLAGS.values())}));"
        "print(json.dumps({n: b.FLAGS[n].help for n in set().union(*b.MODE_FLAGS.values())}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    modes, helps = map(json.loads, done.stdout.splitlines())
    for name, read_by in modes.items():
        word = "mode" if len(read_by) == 1 else "modes"
        assert helps[name].startswith(f"{', '.join(read_by)} {word}: "), (name, helps[name])


def test_help_into_a_closed_pipe_is_quiet():
    # `vae-aae-train --help | head -1`: the reader leaves before the help is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "scripts/train_vae.py", "--help"],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE and done.stderr == "", done.stderr[-2000:]


@pytest.mark.parametrize(
    "code, message",
    [
        ("x\n", "line 1: NameError: name 'x' is not defined"),
        ("def get_config():\n    return 1 / 0\n", "line 2: ZeroDivisionError: division by zero"),
    ],
)
def test_a_config_file_whose_code_fails_is_one_line_naming_its_line(tmp_path, code, message):
    (tmp_path / "mine.py").write_text(code)
    for given in (f"{tmp_path}/mine.py", os.path.relpath(tmp_path / "mine.py", ROOT)):
        args = ["scripts/train_vae.py", f"--workdir={tmp_path / 'run'}", f"--config={given}"]
        result = run_cli([sys.executable, *args])
        assert_one_line_error(result, f"the config file {given} fails: {message}", 2)
    assert os.listdir(tmp_path) == ["mine.py"]


@pytest.mark.parametrize("script", ["train_vae.py", "sample.py", "reproduce.py"])
def test_an_empty_path_flag_is_one_line(tmp_path, script):
    # `--workdir=` (a shell variable that was not set) would train into the current folder.
    flag = "--root" if script == "reproduce.py" else "--workdir"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", script), f"{flag}= "],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_error(result, f"{flag} is empty: ", 2)
    assert os.listdir(tmp_path) == []


def test_the_caches_share_one_folder(monkeypatch, tmp_path):
    # One folder to clear: the compilation cache and the sample-quality classifiers.
    from common import cli
    from common.evaluation import classifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.default_cache_dir() == str(tmp_path / "jax_vae_aae" / "xla")
    assert classifier.default_cache_dir() == str(tmp_path / "jax_vae_aae" / "classifiers")
