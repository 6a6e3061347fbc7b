"""A paper's table beside our runs (the AAE paper's Tables 2 and 3: semi-supervised test error
and unsupervised clustering error on MNIST), each row with its verdict against the paper and
against this project's target, and what the unlabelled images bought over the same labels
alone."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from common.experiments import plans
from common.experiments.plans import PaperRow
from common.report import markdown, verdicts
from common.report.runs import Run, load_run, seed_runs

METRIC = "test_error"  # %, of the best validation epoch


def _errors(root: str, name: str) -> tuple[list[float], list[Run]]:
    """The test errors of experiment `name`'s finished runs at the root (every seed)."""
    runs = [load_run(plans.run_dir(root, name)), *seed_runs(root, name)]
    runs = [r for r in runs if r is not None and r.final is not None and METRIC in r.final]
    return [r.final[METRIC] for r in runs], runs


def _mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def section(rows: Sequence[PaperRow], root: str) -> list[str]:
    """The markdown section: one table row per paper row (ours not run yet: said so)."""
    if not rows:
        return []
    body, gains = [], []
    for row in rows:
        errors, runs = _errors(root, row.experiment)
        paper = f"{row.paper.value:.2f} ± {row.paper.error:.2f}"
        target = "none set" if row.target is None else f"{row.target:g}"
        if not errors:
            body.append([row.table, row.setting, paper, target, "not run yet", "", ""])
            continue
        mean, se = statistics.fmean(errors), verdicts.standard_error(errors)
        epochs = sorted({r.last_epoch for r in runs})
        ours = f"{_mean_sd(errors)} ({len(errors)} seed{'s' * (len(errors) > 1)}, "
        ours += f"{', '.join(map(str, epochs))} epochs)"
        body.append(
            [
                row.table,
                row.setting,
                paper,
                target,
                ours,
                "" if row.target is None else verdicts.against(mean, row.target, fmt=".2f"),
                verdicts.against(
                    mean, row.paper.value, error=se, reference_error=row.paper.error, fmt=".2f"
                ),
            ]
        )
        if row.baseline:
            alone, _ = _errors(root, row.baseline)
            if alone:
                gain = statistics.fmean(alone) - mean
                gains.append(
                    f"- {row.setting}: the same labels without the unlabelled images "
                    f"(`{row.baseline}`) give {_mean_sd(alone)} % test error; the unlabelled "
                    f"images take {abs(gain):.2f} points {'off' if gain > 0 else 'onto'} it."
                )
    header = ["table", "setting", "paper (%)", "target here (%)", "ours: test error (%)"]
    lines = ["## The AAE paper's Tables 2 and 3 beside ours", ""]
    lines += markdown.table([*header, "against the target", "against the paper"], body)
    lines += [
        "",
        "Test error of the best validation epoch's model (clustering: each cluster takes the "
        "label of the validation image it is surest of); several seeds: mean ± standard "
        "deviation, and the verdict against the paper compares the mean's standard error and "
        "the paper's ± (taken as its error) within two of them combined. The paper trains "
        "fully connected networks of 1,000 units for thousands of epochs; these runs are the "
        "course's convolutional trunks for the epochs stated.",
        "",
        *gains,
    ]
    return [*lines, ""]
