"""A run's directory: --fresh removes the run's files only, older configs read, refusals."""

import json
import os
import shutil

import pytest
from conftest import make_tiny_aae_config, make_tiny_vae_config

from common.errors import CheckpointError, ConfigError, WorkdirBusy
from common.train import resume, workdir


def test_clear_removes_every_run_file_and_nothing_else(tmp_path):
    for name in (
        "config.json",
        "metrics.jsonl",
        "events.out.tfevents.1.host",
        "manifold.png",
        "latent_scatter.png",
        "log_likelihood.md",
        "notes.txt",
        "mine.png",
    ):
        (tmp_path / name).write_text("x")
    for folder in ("checkpoints/3", "samples", "reconstructions", "data"):
        os.makedirs(tmp_path / folder)
    workdir.clear(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["data", "mine.png", "notes.txt"]


def test_load_config_fills_fields_older_runs_lack(tmp_path):
    saved = make_tiny_aae_config("x").to_dict()
    del saved["conv_impl"]  # runs saved before config.conv_impl existed
    for opt in saved["optimizers"].values():
        del opt["warmup_steps"]  # ... and before the AAE optimizers' warm-up
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = workdir.load_config(str(tmp_path))
    assert loaded.conv_impl == "auto"
    assert {opt.warmup_steps for opt in loaded.optimizers.values()} == {0}  # as they ran
    with pytest.raises(CheckpointError, match="holds no run"):
        workdir.load_config(str(tmp_path / "empty"))


def test_a_data_field_change_is_refused_before_anything_is_written(tmp_path):
    # The data and the seed do not show in the train state: they are compared by name. (Fields
    # that shape the state are found from the state itself: tests/test_common_train_trainer.py.)
    config = make_tiny_vae_config("x")
    assert resume.prepare(config, str(tmp_path), None) is False  # nothing to resume
    os.makedirs(tmp_path / "checkpoints" / "0" / "state")  # (a checkpoint holds a state)
    before = (tmp_path / "config.json").read_text()
    changed = make_tiny_vae_config("x")
    changed.data.limit = 50
    with pytest.raises(ConfigError, match="data.limit=0, but this config has data.limit=50"):
        resume.prepare(changed, str(tmp_path), None)
    assert (tmp_path / "config.json").read_text() == before
    longer = make_tiny_vae_config("x")
    longer.num_epochs = 9
    assert resume.prepare(longer, str(tmp_path), None) is True  # may change: trains on
    assert json.loads((tmp_path / "config.json").read_text())["num_epochs"] == 9


def test_the_lock_refuses_a_second_holder_and_is_taken_over_after_a_death(tmp_path, caplog):
    import fcntl

    with workdir.lock(str(tmp_path)):
        holder = json.loads((tmp_path / "run.lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["since"]
        # Another process (flock is per open file: a second open is a second holder).
        fd = os.open(tmp_path / "run.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
        with pytest.raises(WorkdirBusy, match=rf"in use by another run \(pid {os.getpid()} on "):
            with workdir.lock(str(tmp_path)):
                pass
    assert (tmp_path / "run.lock").read_text() == ""  # released cleanly: no holder left
    # A holder that died (SIGKILL, power loss) leaves its record but no flock: taken over.
    (tmp_path / "run.lock").write_text(json.dumps({"pid": 99999, "host": "h", "since": "t"}))
    with workdir.lock(str(tmp_path)):
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert "Taking over" in caplog.text and "pid 99999 on h since t" in caplog.text


def test_a_config_with_fewer_epochs_than_the_run_has_trained_is_refused(tmp_path):
    config = make_tiny_vae_config("x")
    resume.prepare(config, str(tmp_path), None)
    for epoch in (0, 5):
        os.makedirs(tmp_path / "checkpoints" / str(epoch) / "state")
    config.num_epochs = 3
    with pytest.raises(
        ConfigError, match="trained to epoch 5, more than this config's num_epochs=3"
    ):
        resume.prepare(config, str(tmp_path), None)


def test_a_full_disk_becomes_one_line_naming_the_file_and_other_errors_stay(tmp_path):
    import errno

    from common.errors import DiskFull, writing

    run = str(tmp_path)
    with pytest.raises(DiskFull) as caught:
        with workdir.out_of_space_is_one_line(run), writing(str(tmp_path / "metrics.jsonl")):
            raise OSError(errno.ENOSPC, "No space left on device")  # as write() raises it
    assert str(caught.value) == (
        f"no space left on the device of {run} (writing metrics.jsonl: No space left on device; "
        f"{shutil.disk_usage(run).free / 1e6:.1f} MB free); free space and run the same command "
        "to resume"
    )
    # Closing files on the way out can meet the full disk again: the line names the first write.
    with pytest.raises(DiskFull, match=r"\(writing metrics.jsonl: No space left on device; "):
        with workdir.out_of_space_is_one_line(run):
            try:
                with writing(str(tmp_path / "metrics.jsonl")):
                    raise OSError(errno.ENOSPC, "No space left on device")
            finally:
                with writing(str(tmp_path / "events.out.tfevents.1")):
                    raise OSError(errno.ENOSPC, "No space left on device")
    # orbax's writer (tensorstore) says it in a ValueError, wrapped in other exceptions.
    tensorstore = ValueError(
        'RESOURCE_EXHAUSTED: Error writing "params.x/0": [OS error: No space left on device]'
    )
    with pytest.raises(DiskFull, match=r"\(ValueError: No space left on device; "):
        with workdir.out_of_space_is_one_line(run):
            try:
                raise tensorstore
            except ValueError as e:
                raise RuntimeError("a save failed") from e
    # Anything else is not a full disk and keeps its type (and its traceback).
    for error in (OSError(errno.EACCES, "Permission denied", "x"), KeyError("bug")):
        with pytest.raises(type(error)) as caught:
            with workdir.out_of_space_is_one_line(run):
                raise error
        assert caught.value is error


def test_a_checkpoint_that_does_not_fit_is_refused_before_orbax_writes(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from common.train import checkpoint

    manager = checkpoint.make_manager(str(tmp_path))
    state = {"w": np.zeros((1000,), np.float32)}
    usage = shutil.disk_usage(str(tmp_path))
    need = 4000 + checkpoint.SAVE_OVERHEAD
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=need - 1))
    with pytest.raises(OSError) as caught:
        checkpoint.save(manager, state, checkpoint.Progress(3))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename.endswith("/3")
    assert checkpoint.epochs(str(tmp_path)) == [] and os.listdir(tmp_path / "checkpoints") == []
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=need))
    checkpoint.save(manager, state, checkpoint.Progress(3))
    manager.wait_until_finished()  # saves are asynchronous: the next epoch trains meanwhile
    assert checkpoint.epochs(str(tmp_path)) == [3]


@pytest.mark.parametrize("fresh", [False, True])
def test_another_programs_folder_is_refused_and_kept_whole(tmp_path, fresh):
    # Its own config.json (no "model": not a run of this project's) and a samples/ of its own.
    (tmp_path / "config.json").write_text('{"name": "my app"}')
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "holiday.png").write_text("x")
    with pytest.raises(ConfigError, match=r"config.json is not a config this project wrote"):
        resume.prepare(make_tiny_vae_config("x"), str(tmp_path), None, fresh=fresh)
    assert (tmp_path / "config.json").read_text() == '{"name": "my app"}'
    assert sorted(os.listdir(tmp_path)) == ["config.json", "samples"]  # (run.lock: the caller's)
    assert os.listdir(tmp_path / "samples") == ["holiday.png"]


def test_fresh_clears_a_run_but_not_a_folder_that_never_held_one(tmp_path):
    mine = tmp_path / "mine"
    (mine / "samples").mkdir(parents=True)
    (mine / "samples" / "holiday.png").write_text("x")
    assert resume.prepare(make_tiny_vae_config("x"), str(mine), None, fresh=True) is False
    assert os.listdir(mine / "samples") == ["holiday.png"]  # no run was there to clear
    (mine / "samples" / "epoch_0.png").write_text("x")  # now it holds a run: --fresh clears it
    assert resume.prepare(make_tiny_vae_config("x"), str(mine), None, fresh=True) is False
    assert not (mine / "samples").exists() and (mine / "config.json").exists()


def test_a_damaged_config_json_is_refused_and_replaced_with_fresh(tmp_path):
    (tmp_path / "config.json").write_text('{"model": ')  # half of one
    with pytest.raises(CheckpointError, match="not a config this project wrote .*--fresh starts"):
        resume.prepare(make_tiny_vae_config("x"), str(tmp_path), None)
    assert (tmp_path / "config.json").read_text() == '{"model": '
    os.makedirs(tmp_path / "checkpoints" / "0" / "state")  # a run's: --fresh would end it
    with pytest.raises(CheckpointError, match="put the run's own config.json back$"):
        resume.prepare(make_tiny_vae_config("x"), str(tmp_path), None)
    assert resume.prepare(make_tiny_vae_config("x"), str(tmp_path), None, fresh=True) is False
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "vae"
