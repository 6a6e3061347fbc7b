"""The one list of what a workdir holds, and the names built from it."""

import os

from common import files
from common.train import run_files, workdir


def test_fresh_removes_every_run_file_and_its_temporary_but_not_the_lock(tmp_path):
    assert set(run_files.FILES) - {run_files.LOCK} <= set(run_files.RUN_FILES)
    assert run_files.LOCK not in run_files.RUN_FILES
    # On disk: each run file and each one's temporary go, the lock and the user's files stay.
    for name in run_files.FILES:  # (the lock is written in place: it has no temporary)
        for path in (name, files.temporary(name)) if name != run_files.LOCK else (name,):
            if "*" not in path:
                (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / path).write_text("x")
    (tmp_path / "events.out.tfevents.1.host").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    workdir.clear(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(["notes.txt", run_files.LOCK])


def test_the_names_of_the_pictures_of_an_epoch():
    assert run_files.samples(10) == "samples/epoch_10.png"
    assert run_files.samples(10, run_files.PIXEL_MEANS) == "samples/epoch_10_mean.png"
    assert run_files.reconstructions(0) == "reconstructions/epoch_0.png"
    assert run_files.restored_samples(3) == "samples/restored_epoch_3.png"
    assert run_files.EVENTS == run_files.EVENTS_PREFIX + ".out.tfevents.*"
