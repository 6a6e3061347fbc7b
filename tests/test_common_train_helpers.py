"""The loop's helpers: when to checkpoint, finite checks, the progress line, durations."""

import math

import pytest

from common.errors import NonFiniteError
from common.train import helpers


def test_checkpoint_epochs():
    kw = dict(every=5, last=12, milestones=(0, 3), best=7)
    chosen = [e for e in range(13) if helpers.is_checkpoint_epoch(e, **kw)]
    assert chosen == [0, 3, 5, 7, 10, 12]


def test_check_finite_names_the_epoch_and_the_values():
    helpers.check_finite(3, {"a": 1.0, "b": -2.0}, 2)
    with pytest.raises(NonFiniteError, match=r"epoch 4: non-finite loss \(b=nan\).*epoch 3"):
        helpers.check_finite(4, {"a": 1.0, "b": math.nan}, 3)


def test_progress_line_and_durations():
    line = helpers.progress_line(2, 10, {"train_bpd": 1.23456, "seconds": 2.0}, 1000, [2.0, 2.2])
    assert line == "epoch 2/10  train_bpd 1.2346  500 img/s  2.0s  ETA 0m17s"
    # An epoch through which the machine slept: the time left stays that of the typical epoch.
    line = helpers.progress_line(3, 10, {"seconds": 2.0}, 1000, [2.0, 2.2, 7200.0])
    assert line.endswith("ETA 0m15s")
    assert helpers.format_duration(3725) == "1h02m05s"
    assert helpers.format_duration(65) == "1m05s"


def test_the_stopwatch_adds_each_phase_and_leaves_the_rest_to_other(monkeypatch):
    # A clock that moves only when told: "a" takes 2 s twice, "b" 1 s; of a 10 s run the other 5
    # s are no phase's.
    now = [100.0]
    monkeypatch.setattr(helpers.time, "perf_counter", lambda: now[0])
    watch = helpers.Stopwatch()
    for phase, seconds in (("a", 2.0), ("b", 1.0), ("a", 2.0)):
        with watch(phase):
            now[0] += seconds
    assert watch.breakdown(10.0) == {"a": 4.0, "b": 1.0, "other": 5.0, "total": 10.0}
