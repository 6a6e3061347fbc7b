"""Data parallel over 4 host CPU devices computes what one device computes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import json, sys
import jax, numpy as np
sys.path.insert(0, "tests")
from conftest import make_tiny_{model}_config
from {model} import train
from common import restore
config = make_tiny_{model}_config({data!r})
config.num_epochs = 2
final = train.train_and_evaluate(config, {workdir!r})
_, _, state, _ = restore.restore_run({workdir!r}, 2)
leaves = [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(state.params)]
rows = [json.loads(l) for l in open({workdir!r} + "/metrics.jsonl")]
print("RESULT", json.dumps(dict(devices=jax.device_count(), rows=rows,
      params=np.concatenate(leaves).tolist())))
"""


def run(model, devices, data, workdir):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    code = SCRIPT.format(model=model, data=data, workdir=str(workdir))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("model", ["vae", pytest.param("aae", marks=pytest.mark.slow)])
def test_four_devices_match_one(model, mnist_dir, tmp_path):
    one = run(model, 1, mnist_dir, tmp_path / "one")
    four = run(model, 4, mnist_dir, tmp_path / "four")
    assert (one["devices"], four["devices"]) == (1, 4)
    for a, b in zip(one["rows"], four["rows"], strict=True):
        for k, v in a.items():
            if k not in ("seconds", "best_epoch"):
                assert b[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    np.testing.assert_allclose(four["params"], one["params"], rtol=1e-5, atol=1e-6)
