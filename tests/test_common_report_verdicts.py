"""Verdicts beside references, computed from the numbers."""

import pytest

from common.report import verdicts


def test_met_missed_and_level():
    assert verdicts.against(2.5, 3.0) == "met, better by 0.5"
    assert verdicts.against(3.4, 3.0) == "missed by 0.4"
    assert verdicts.against(3.0, 3.0) == "met"
    assert verdicts.against(0.9, 1.0, lower_is_better=False) == "missed by 0.1"
    # Within two standard errors combined (0.1 and 0.2: 2 * hypot = 0.447) the two are level.
    assert verdicts.against(1.4, 1.0, error=0.1, reference_error=0.2) == verdicts.LEVEL
    assert verdicts.against(1.5, 1.0, error=0.1, reference_error=0.2) == "missed by 0.5"


def test_about_a_number_is_the_numbers_that_round_to_it():
    # "about 0.52": 0.515 to 0.525 (half the last stated digit) is met, either side.
    assert verdicts.about(0.524, 0.52, 0.005) == "met"
    assert verdicts.about(0.516, 0.52, 0.005) == "met"
    assert verdicts.about(0.53, 0.52, 0.005) == "missed by 0.01"
    assert verdicts.about(3.2, 4.0, 0.5) == "missed by 0.8"
    # A bpd below "about 0.52" is better, not a miss; above it, missed.
    assert verdicts.about(0.5126, 0.52, 0.005, lower_is_better=True) == "met, better by 0.0074"
    assert verdicts.about(0.53, 0.52, 0.005, lower_is_better=True) == "missed by 0.01"


def test_standard_error_of_the_mean():
    assert verdicts.standard_error([1.0]) == 0.0
    assert verdicts.standard_error([1.0, 2.0, 3.0]) == pytest.approx(1.0 / 3**0.5)
