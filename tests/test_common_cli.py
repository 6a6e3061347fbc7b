"""The scripts' command lines: bad input ends in one line `error: ...`, exit 1, nothing written."""

import os

import numpy as np
from conftest import run_cli, tiny_flags, write_idx


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
