"""The one list of what a workdir holds, and the names built from it."""

from common import files
from common.train import run_files


def test_fresh_removes_every_run_file_and_its_temporary_but_not_the_lock():
    assert set(run_files.FILES) - {run_files.LOCK} <= set(run_files.RUN_FILES)
    assert run_files.LOCK not in run_files.RUN_FILES
    for name in (run_files.CONFIG, run_files.METRICS, run_files.RECORD):
        assert files.temporary(name) in run_files.RUN_FILES


def test_the_names_of_the_pictures_of_an_epoch():
    assert run_files.samples(10) == "samples/epoch_10.png"
    assert run_files.samples(10, run_files.PIXEL_MEANS) == "samples/epoch_10_mean.png"
    assert run_files.reconstructions(0) == "reconstructions/epoch_0.png"
    assert run_files.restored_samples(3) == "samples/restored_epoch_3.png"
    assert run_files.EVENTS == run_files.EVENTS_PREFIX + ".out.tfevents.*"
