"""Orbax checkpoints: atomic under SIGKILL, restorable, the steps that are kept."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from common import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_checkpoint_writes_are_atomic_under_sigkill(tmp_path):
    """A writer killed mid-save leaves only complete checkpoints, each restorable."""
    workdir = str(tmp_path)
    code = f"""
import numpy as np
from common import checkpoint
manager = checkpoint.make_manager({workdir!r}, milestones=range(1000))
for step in range(1000):
    state = {{"w": np.full((4_000_000,), step, np.float32)}}  # 16 MB: a save takes a while
    checkpoint.save(manager, step, state, {{"epoch": step}})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)
    ckpt = checkpoint.checkpoint_dir(workdir)
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(os.path.join(ckpt, "2")):
        time.sleep(0.01)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manager = checkpoint.make_manager(workdir, milestones=range(1000))
    steps = manager.all_steps()
    assert len(steps) >= 3
    for step in steps:
        state, meta = checkpoint.restore(manager, step, {"w": np.zeros((4_000_000,), np.float32)})
        assert meta["epoch"] == step and np.all(np.asarray(state["w"]) == step)
    # A partial save, if the kill caught one, is a temporary folder that is never a step.
    finished = [name for name in os.listdir(ckpt) if name.isdigit()]
    assert sorted(map(int, finished)) == sorted(steps)
    assert all(name.isdigit() or ".orbax-checkpoint-tmp" in name for name in os.listdir(ckpt))
