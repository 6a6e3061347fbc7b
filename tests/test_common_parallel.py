"""Data parallel over 4 host CPU devices, or over 2 processes, computes what one device computes.

Each case trains in fresh processes (a process's device count is fixed when JAX starts), so the
module is slow: README's second test command (`pytest -m slow`) runs it.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import json, sys
import jax, numpy as np
{distributed}
sys.path.insert(0, "tests")
from conftest import make_tiny_{model}_config
from {model} import train
from common import parallel
config = make_tiny_{model}_config({data!r})
config.num_epochs = 2
final = train.train_and_evaluate(config, {workdir!r})
_, state, _ = train.{trainer}.restore({workdir!r}, 2)
leaves = [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(state.params)]
rows = [json.loads(l) for l in open({workdir!r} + "/metrics.jsonl")]
last_is_stopping = parallel.any_process(jax.process_index() == jax.process_count() - 1)
print("RESULT", json.dumps(dict(devices=jax.device_count(), rows=rows,
      params=np.concatenate(leaves).tolist(), any_process=last_is_stopping)))
"""


# What `--distributed` does on a cluster, by hand: two processes on this machine, one CPU device
# each, talking over loopback (gloo collectives).
DISTRIBUTED = """
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize("127.0.0.1:{port}", num_processes={processes}, process_id={pid})
"""


def start(model, devices, data, workdir, distributed=""):
    """Starts the script; its output goes to files (with pipes, a process blocked on a full pipe
    that nobody reads yet would hold the other process at their shutdown barrier)."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    trainer = {"vae": "VAETrainer", "aae": "AAETrainer"}[model]
    code = SCRIPT.format(
        model=model, trainer=trainer, data=data, workdir=str(workdir), distributed=distributed
    )
    out = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=out[0], stderr=out[1], text=True
    )
    process.out = out
    return process


def result(process):
    process.wait(timeout=600)
    stdout, stderr = (f.seek(0) or f.read() for f in process.out)
    assert process.returncode == 0, stderr[-3000:]
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def run(model, devices, data, workdir):
    return result(start(model, devices, data, workdir))


def assert_same_run(one, other):
    for a, b in zip(one["rows"], other["rows"], strict=True):
        for k, v in a.items():
            if k != "best_epoch" and not k.startswith("seconds"):
                assert b[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    np.testing.assert_allclose(other["params"], one["params"], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def one_device_vae(mnist_dir, tmp_path_factory):
    return run("vae", 1, mnist_dir, tmp_path_factory.mktemp("one"))


pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["vae", "aae"])
def test_four_devices_match_one(model, mnist_dir, tmp_path, request):
    one = request.getfixturevalue("one_device_vae") if model == "vae" else None
    one = one or run(model, 1, mnist_dir, tmp_path / "one")
    four = run(model, 4, mnist_dir, tmp_path / "four")
    assert (one["devices"], four["devices"]) == (1, 4)
    assert_same_run(one, four)


def test_two_processes_match_one(one_device_vae, mnist_dir, tmp_path):
    """Multi-host data parallel: same metrics and checkpoint; only process 0 writes files."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path / "two"
    processes = [
        start("vae", 1, mnist_dir, workdir, DISTRIBUTED.format(port=port, processes=2, pid=pid))
        for pid in (0, 1)
    ]
    first, second = (result(p) for p in processes)
    assert first["devices"] == second["devices"] == 2
    assert_same_run(one_device_vae, first)
    assert_same_run(one_device_vae, second)
    assert len(glob.glob(str(workdir / "events.out.tfevents.*"))) == 1
    assert first["any_process"] and second["any_process"]  # one host's stop stops both
