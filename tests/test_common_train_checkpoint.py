"""Orbax checkpoints: atomic under SIGKILL, restorable, the steps that are kept."""

import os
import signal
import subprocess
import sys
import time
import types

import numpy as np

from common.train import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_checkpoint_writes_are_atomic_under_sigkill(tmp_path):
    """A writer killed mid-save leaves only complete checkpoints, each restorable."""
    workdir = str(tmp_path)
    code = f"""
import numpy as np
from common.train import checkpoint
manager = checkpoint.make_manager({workdir!r}, milestones=range(1000))
for step in range(1000):
    state = {{"w": np.full((4_000_000,), step, np.float32)}}  # 16 MB: a save takes a while
    checkpoint.save(manager, state, checkpoint.Progress(step))
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
        state, progress = checkpoint.restore(
            manager, step, {"w": np.zeros((4_000_000,), np.float32)}
        )
        assert progress.epoch == step and np.all(np.asarray(state["w"]) == step)
    # A partial save, if the kill caught one, is a temporary folder that is never a step.
    finished = [name for name in os.listdir(ckpt) if name.isdigit()]
    assert sorted(map(int, finished)) == sorted(steps)
    assert all(name.isdigit() or ".orbax-checkpoint-tmp" in name for name in os.listdir(ckpt))


def test_the_two_newest_the_milestones_and_the_best_are_kept(tmp_path):
    manager = checkpoint.make_manager(str(tmp_path), milestones=(0, 3), monitor="val_bpd")
    values = {1: 0.9, 2: 0.1, 3: 0.8, 4: 0.7, 5: 0.6, 6: 0.5}  # epoch 2 is the best
    for epoch in range(7):
        metric = {"val_bpd": values[epoch]} if epoch in values else None
        state = {"w": np.full((3,), epoch, np.float32)}
        checkpoint.save(manager, state, checkpoint.Progress(epoch), metric)
    manager.wait_until_finished()
    assert checkpoint.epochs(str(tmp_path)) == [0, 2, 3, 5, 6]
    state, _ = checkpoint.restore(manager, 2, {"w": np.zeros((3,), np.float32)})
    np.testing.assert_array_equal(state["w"], 2.0)


def test_the_best_state_is_restored_and_a_damaged_best_gives_way_to_the_last(tmp_path, caplog):
    manager = checkpoint.make_manager(str(tmp_path), monitor="val_bpd")
    for epoch, value in ((1, 0.5), (2, 0.9)):  # epoch 1 is the best
        state = {"w": np.full((3,), epoch, np.float32)}
        checkpoint.save(manager, state, checkpoint.Progress(epoch, 1, 0.5), {"val_bpd": value})
    last = checkpoint.Progress(2, best_epoch=1, best_value=0.5)
    best, progress = checkpoint.restore_best(manager, state, last)
    np.testing.assert_array_equal(best["w"], 1.0)
    assert progress == last
    for path in (tmp_path / "checkpoints" / "1" / "state").rglob("*"):  # damaged since
        if path.is_file():
            path.write_bytes(b"")
    best, progress = checkpoint.restore_best(manager, state, last)
    np.testing.assert_array_equal(best["w"], 2.0)  # the last epoch's, tested instead
    assert progress.best_epoch == 2 and "best epoch 1 does not restore" in caplog.text


def _raised_in(filename: str) -> Exception:
    """An exception whose innermost frame is in `filename`."""
    try:
        exec(compile("raise Exception('read failed')", filename, "exec"))
    except Exception as e:
        return e


def test_late_reads_of_a_failed_restore_are_dropped_and_nothing_else(monkeypatch):
    # What tensorstore's orphaned reads raise on orbax's closed event loop goes nowhere; any
    # other unraisable exception reaches the hook that was there before.
    seen = []
    monkeypatch.setattr(checkpoint, "_previous_unraisablehook", seen.append)
    assert sys.unraisablehook is checkpoint._drop_orphaned_reads

    in_orbax = _raised_in(os.path.join(os.sep, "x", "orbax", "serialization.py"))
    elsewhere = _raised_in(os.path.join(os.sep, "x", "mine.py"))
    read = ValueError("OUT_OF_RANGE: Error reading \"step\" [tensorstore_spec='{}']")  # no frame
    errors = [RuntimeError("Event loop is closed"), RuntimeError("other"), in_orbax, elsewhere]
    errors.append(read)
    for error in errors:
        hook_args = dict(exc_type=type(error), exc_value=error, exc_traceback=error.__traceback__)
        sys.unraisablehook(types.SimpleNamespace(**hook_args))
    assert [u.exc_value for u in seen] == [errors[1], elsewhere]


def test_orbax_noise_of_a_full_disk_or_a_failed_restore_is_dropped_and_nothing_else():
    # An asynchronous save that meets a full disk: orbax's threads (and asyncio at exit) log a
    # dozen tracebacks; the run's own one-line DiskFull says it instead. Other records pass.
    import logging

    keep = checkpoint._OrbaxNoise().filter
    orbax_file = os.path.join(os.sep, "x", "orbax", "checkpoint", "future.py")

    def record(name, path, message, error=None):
        exc_info = (type(error), error, error.__traceback__) if error else None
        return logging.LogRecord(name, logging.ERROR, path, 1, message, None, exc_info)

    assert not keep(record("absl", orbax_file, "raised: [Errno 28] No space left on device"))
    assert keep(record("absl", orbax_file, "Save failed: permission denied"))
    assert keep(record("absl", "/x/common/cli.py", "No space left on device"))  # not orbax's
    # asyncio at exit: orbax's futures left behind by a failed restore or save, not others'.
    never = "Future exception was never retrieved"
    orbax_error = _raised_in(os.path.join(os.sep, "x", "orbax", "serialization.py"))
    assert not keep(record("asyncio", "base_events.py", never, orbax_error))
    out_of_space = ValueError("RESOURCE_EXHAUSTED: ... No space left on device")  # no frames
    assert not keep(record("asyncio", "base_events.py", never, out_of_space))
    assert keep(record("asyncio", "base_events.py", never, _raised_in("/x/mine.py")))
    # A tensorstore read of a damaged checkpoint, collected after the restore failed (three
    # lines, seen on CI): set from tensorstore's threads, or wrapped in an asyncio Task.
    read = 'OUT_OF_RANGE: Error reading "step/.zarray" [tensorstore_spec=\'{"driver":"zarr"}\']'
    assert not keep(record("asyncio", "base_events.py", never, ValueError(read)))
    in_task = _raised_in(os.path.join(os.sep, "x", "asyncio", "tasks.py"))
    in_task.args = (read,)
    assert not keep(record("asyncio", "base_events.py", never, in_task))
    assert keep(record("asyncio", "base_events.py", never, ValueError("OUT_OF_RANGE: mine")))
