"""A paper's table beside our runs (the AAE paper's Tables 2 and 3: semi-supervised test error
and unsupervised clustering error on MNIST), each row with its verdict against the paper and
against this project's target, and what the unlabelled images bought over the same labels
alone."""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence

from common import plotting
from common.experiments import plans
from common.experiments.plans import PaperRow
from common.report import markdown, verdicts
from common.report.runs import Run, load_run, seed_runs

METRIC = "test_error"  # %, of the best validation epoch
CURVE = "val_error"  # %, per epoch
FIGURE = "error_curves.png"  # under the plan's figures folder


def _errors(root: str, name: str) -> tuple[list[float], list[Run]]:
    """The test errors of experiment `name`'s finished runs at the root (every seed)."""
    runs = [load_run(plans.run_dir(root, name)), *seed_runs(root, name)]
    runs = [r for r in runs if r is not None and r.final is not None and METRIC in r.final]
    return [r.final[METRIC] for r in runs], runs


def _mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def mean_curve(runs: Sequence[Run]) -> tuple[list[int], list[float]]:
    """(epochs, mean of CURVE over the runs) at the epochs from 1 that every run has reached."""
    by_run = [{r["epoch"]: r[CURVE] for r in run.rows if CURVE in r} for run in runs]
    epochs = sorted(set.intersection(*(set(b) for b in by_run)) - {0}) if by_run else []
    return epochs, [statistics.fmean(b[e] for b in by_run) for e in epochs]


def write_figure(
    rows: Sequence[PaperRow], finished: Mapping[str, list[Run]], root: str, path: str
) -> bool:
    """Our validation error per epoch beside the paper's test error (dashed, the same colour),
    a panel per table, log scale; `finished`: each experiment's finished runs (`_errors`'), an
    unfinished one's run read from the root. False (nothing written) when no run has an epoch."""
    tables = list(dict.fromkeys(row.table for row in rows))
    panels = []
    for table in tables:
        curves = []
        for row in (r for r in rows if r.table == table):
            runs = finished[row.experiment]
            if not runs:  # unfinished runs: their epochs so far
                runs = [r for r in (load_run(plans.run_dir(root, row.experiment)),) if r]
            epochs, values = mean_curve(runs)
            if epochs:
                curves.append((row, len(runs), epochs, values))
        if curves:
            panels.append((table, curves))
    if not panels:
        return False
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    fig = plotting.new_figure(6.4 * len(panels), 5.2)
    for ax, (table, curves) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        for i, (row, num_runs, epochs, values) in enumerate(curves):
            seeds = f"mean of {num_runs} seeds" if num_runs > 1 else "1 seed"
            ax.plot(epochs, values, color=f"C{i}", marker="o", markersize=3)
            ax.plot([], [], color=f"C{i}", label=f"{row.setting}, ours ({seeds})")
            ax.axhline(row.paper.value, color=f"C{i}", linestyle="--", linewidth=1)
            ax.plot([], [], color=f"C{i}", linestyle="--", label=f"paper: {row.paper.value:g}")
            if row.target is not None:
                ax.axhline(row.target, color=f"C{i}", linestyle=":", linewidth=1)
                ax.plot([], [], color=f"C{i}", linestyle=":", label=f"target: {row.target:g}")
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_locator(
            FixedLocator([t for t in (0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100) if low <= t <= high])
        )
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter("{x:g}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"the AAE paper's {table} beside ours")
        ax.set_xlabel("epoch (the paper's runs: thousands)")
        ax.set_ylabel("error (%): ours validation, paper test")
        ax.grid(alpha=0.3, which="both")
        # Below the axes, a column per row of the table (ours, the paper's, the target).
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(curves))
    fig.tight_layout()
    plotting.save_figure(fig, path)
    return True


def _additions(rows: Sequence[PaperRow], finished: Mapping[str, list[Run]]) -> list[str]:
    """A sentence naming the settings whose runs add this project's class-balance term to the
    paper's phases (their configs' class_balance_weight), or nothing."""
    added = [
        row.setting
        for row in rows
        if any(r.config.get("class_balance_weight") for r in finished.get(row.experiment, ()))
    ]
    if not added:
        return []
    return [
        "",
        f"Not the paper's scheme: the runs of {', '.join(added)} add this project's class-balance "
        "term to the generator phase (`class_balance_weight`: the batch's KL(mean q(y|x) || "
        "uniform); docs/experiments.md says why).",
    ]


def section(rows: Sequence[PaperRow], root: str, docs_dir: str, figures: str) -> list[str]:
    """The markdown section: one table row per paper row (ours not run yet: said so), and the
    error curves' figure (DOCS/FIGURES/FIGURE)."""
    if not rows:
        return []
    body, gains, finished = [], [], {}
    for row in rows:
        errors, runs = _errors(root, row.experiment)
        finished[row.experiment] = runs
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
        *_additions(rows, finished),
        "",
        *gains,
    ]
    if write_figure(rows, finished, root, os.path.join(docs_dir, figures, FIGURE)):
        lines += [
            "",
            "Validation error per epoch beside the paper's test error (dashed, the same colour): "
            "where our runs stand on the paper's way, which took thousands of epochs.",
            "",
            f"![Validation error per epoch beside the paper's tables]({figures}/{FIGURE})",
        ]
    return [*lines, ""]
