"""A plan's report (docs/results.md, docs/priors.md) from its workdirs, rendering only: it can
be rewritten at any time without training. Figures are copied under DOCS so links stay valid.
"""

from __future__ import annotations

import datetime
import functools
import glob
import os
import shutil
import statistics
from collections.abc import Callable, Mapping, Sequence

from common import files, input_pipeline
from common.experiments import plans
from common.experiments.plans import Experiment, Headline, Plan
from common.report import across_runs, log_likelihood, markdown, paper, verdicts
from common.report.runs import (
    Run,
    assignment_epochs,
    load_run,
    machines,
    sample_epochs,
    status,
    timed_sessions,
)
from common.train import helpers, run_files


def interpolation_caption(split: str) -> str:
    """What the trainer's interpolation grid shows (pictures.py: its rows), on `split`'s images."""
    return (
        f"Interpolation between {split} images (rows: the first image of labels 0 -> 1, 2 -> 3, "
        "4 -> 5, 6 -> 7; columns: the decoded codes on the straight line between their codes)"
    )


# ----------------------------------------------------------------------------- reading a run


# ----------------------------------------------------------------------------- markdown pieces


def _epoch_header(epoch: int, assignment: list[int], reached: bool) -> str:
    text = f"epoch {epoch}"
    if assignment != [epoch]:
        text += f" (config: {', '.join(map(str, assignment))})"
    return text if reached else text + ", not reached yet"


def _grid_table(
    run: Run, figures: markdown.Figures, rows: Sequence[tuple[str, Callable[[int], str]]]
) -> list[str]:
    """A table of grids: one column per sample epoch, one row per (label, epoch -> path)."""
    epochs = sample_epochs(run)
    if not epochs:
        return []
    header = [""] + [
        _epoch_header(e, a, run.last_epoch is not None and e <= run.last_epoch) for e, a in epochs
    ]
    body = []
    for label, path_of in rows:
        cells = [f"**{label}**"]
        for epoch, _ in epochs:
            path = path_of(epoch)
            cells.append(figures.link(path, f"{label}, epoch {epoch}") or "(not written)")
        body.append(cells)
    return markdown.table(header, body) + [""]


def _epoch_table(run: Run, headline: Headline) -> list[str]:
    columns = [(key, key, headline.fmt) for key in headline.table] + [("seconds", "seconds", ".1f")]
    wanted = {0, 1, 2, *(e for e, _ in sample_epochs(run))}
    if run.last_epoch is not None:
        wanted.add(run.last_epoch)
    rows = [r for r in run.rows if r["epoch"] in wanted]
    body = [
        [str(r["epoch"])] + [markdown.fmt(r.get(k), spec) for k, _, spec in columns] for r in rows
    ]
    return markdown.table(["epoch"] + [h for _, h, _ in columns], body) + [""]


def _final_numbers(run: Run, headline: Headline) -> tuple[str, str, str]:
    """(train, validation at the last epoch, test of the final row), formatted."""
    train_key, val_key, test_key = map(headline.key, ("train", "val", "test"))
    spec = headline.fmt
    last = run.rows[-1] if run.rows else {}
    train = markdown.fmt(last.get(train_key), spec)
    val = markdown.fmt(last.get(val_key), spec)
    if run.final is None:
        test = "(not finished)"
    elif test_key in run.final:
        test = markdown.fmt(run.final[test_key], spec)
        if run.final.get("best_epoch") is not None:
            test += f" (best validation epoch {int(run.final['best_epoch'])})"
    else:
        test = "no test set"
    return train, val, test


def _comparison(run: Run, exp: Experiment, compare: bool = True) -> str:
    """The course's numbers beside the run's, each with its verdict (verdicts.py); compare=False:
    other data, the values alone."""
    parts = []
    for ref in (exp.reference, *exp.checks):
        row = run.row(ref.epoch) if ref.epoch is not None else (run.rows or [None])[-1]
        value = (row or {}).get(ref.metric)
        if value is None:
            parts.append(f"{ref.text}: not reached")
        elif not compare:
            parts.append(f"{ref.text} (MNIST): {value:.3f} on other data, not compared")
        elif ref.below:
            parts.append(f"{ref.text}: {value:.3f}, {verdicts.against(value, ref.value)}")
        else:
            verdict = verdicts.about(value, ref.value, ref.tolerance, ref.lower_is_better)
            parts.append(f"{ref.text}: {value:.3f}, {verdict}")
    text = "; ".join(parts)
    target = assignment_epochs(run)
    if run.last_epoch is not None and target is not None and run.last_epoch < target:
        text += f" (but only {run.last_epoch} of {target} epochs ran)"
    return text


def _full_scale_figures(name: str) -> str:
    """The folder of DOCS/figures that holds the full-scale run of experiment `name`."""
    return f"{plans.FULL_SCALE_DIR}_{name}"


def _summary_table(
    experiments: Sequence[Experiment],
    runs: Mapping[str, Run | None],
    prefix: str,
    headlines,
    labels: dict[str, dict[str, str]],
    compare: bool,
) -> list[str]:
    """One row per experiment: epochs, final train / validation / test numbers, the course's
    (compare=False: other data than the course's, so no verdict)."""
    body = []
    for i, exp in enumerate(experiments, 1):
        run = runs.get(exp.name)
        if run is None or not run.rows:
            body.append([f"{prefix}{i}", f"`{exp.name}`", exp.questions, "not run"] + [""] * 7)
            continue
        headline = headlines[run.kind]
        train, val, test = _final_numbers(run, headline)
        reference = _comparison(run, exp, compare) if exp.reference else ""
        trained_on = machines(run) or [markdown.machine_label(None)]
        machine_labels = ", ".join(labels["machine"][m] for m in trained_on)
        body.append(
            [
                f"{prefix}{i}",
                f"`{exp.name}`",
                exp.questions,
                f"{run.last_epoch} / {assignment_epochs(run)}",
                headline.text,
                train,
                val,
                test,
                reference,
                labels["data"][run.latest.get("data", "not recorded")],
                machine_labels,
            ]
        )
    header = ["#", "experiment", "question", "epochs run / planned", "number"]
    header += ["train (last epoch)", "validation (last epoch)", "test (final)"]
    header += ["course reference", "data", "machine"]
    if not any(exp.reference for exp in experiments):  # e.g. the paper's plan: its own table
        column = header.index("course reference")
        header.pop(column)
        body = [row[:column] + row[column + 1 :] for row in body]
    return markdown.table(header, body)


def _wall_time(run: Run) -> str:
    sessions = run.sessions
    seconds = [r["seconds"] for r in run.rows if r["epoch"] > 0 and "seconds" in r]
    parts = []
    if sessions:
        total, untimed = timed_sessions(run)
        timed = len(sessions) - untimed
        parts.append(
            f"{helpers.format_duration(total)} wall clock in {timed} "
            f"session{'s' if timed != 1 else ''} (data loading, compilation, "
            "evaluation and pictures included)"
            + (
                f", and {untimed} more that ended before recording "
                f"{'its' if untimed == 1 else 'their'} time"
                if untimed
                else ""
            )
        )
    if seconds:
        parts.append(
            f"{statistics.median(seconds):.1f} s per training epoch (median of {len(seconds)})"
        )
    return "; ".join(parts) or "not recorded"


def _overrides(run: Run) -> str:
    overrides = run.latest.get("overrides")
    if overrides is None:
        return f"as recorded in the workdir's {run_files.CONFIG}"
    if not overrides:
        return "none"
    shown = []
    for key, value in overrides.items():
        if key == "data.dir":
            value = markdown.display_path(value)
        shown.append(f"`{key}={value}`")
    return ", ".join(shown)


def plateau_note(run: Run, headline: Headline) -> str | None:
    """A sentence when the validation number did not fall by 1% after epoch 1 (`learnt`): for
    the plain autoencoder, the collapse to one output image."""
    if across_runs.learnt(run, headline) is not False:
        return None
    key = headline.key("val")
    first, last = run.row(1), run.rows[-1]
    return (
        f"This run did not learn after its first epoch: the validation {headline.text} was "
        f"{first[key]:.4f} at epoch 1 and {last[key]:.4f} at epoch {last['epoch']} (for a plain "
        "autoencoder: a collapse to one output image whatever the input)."
    )


def _section(
    index: str,
    exp: Experiment,
    run: Run | None,
    docs_dir: str,
    labels: dict[str, dict[str, str]],
    headline: Headline | None,
    figures_root: str,
    figures_name: str | None = None,
    compare: bool = True,
) -> list[str]:
    lines = [f"## {index} {exp.title} ({exp.questions})", ""]
    config_file = exp.config_file
    if run is None:
        return lines + [f"`{config_file}`: not run yet.", ""]
    latest = run.latest
    figures = markdown.Figures(docs_dir, figures_root, figures_name or exp.name, run.workdir)
    target = assignment_epochs(run)
    scale = latest.get("epoch_scale")
    epochs = f"{run.last_epoch} run of the config's {target}"
    if scale not in (None, 1, 1.0):
        epochs += f" (epoch scale {scale})"
    data = latest.get("data", "not recorded")
    lines += [
        f"- **Config**: `{config_file}`; overrides: {_overrides(run)}",
        f"- **Epochs**: {epochs}; {status(run)}",
        f"- **Data** ({labels['data'].get(data, '?')}): {data}",
        "- **Machine**: "
        + "; ".join(
            f"{labels['machine'][m]}: {m}" for m in machines(run) or [markdown.machine_label(None)]
        ),
        f"- **Time**: {_wall_time(run)}",
        f"- **Workdir**: `{markdown.display_path(run.workdir)}`",
        f"- **Command**: `{latest.get('command') or 'not recorded'}`",
        "",
    ]
    note = plateau_note(run, headline)
    if note:
        lines += [f"> {note}", ""]
    lines += _epoch_table(run, headline)
    if exp.reference:
        lines += [f"Course reference: {_comparison(run, exp, compare)}.", ""]

    pictures = []
    if "samples" in exp.show or "reconstructions" in exp.show:
        rows = []
        if "samples" in exp.show:
            rows.append(("samples", run_files.samples))
            for variant, what in (
                (run_files.PIXEL_MEANS, "pixel means"),
                (run_files.BY_REGION, "a row per region of the prior"),
            ):
                if glob.glob(
                    os.path.join(glob.escape(run.workdir), run_files.samples("*", variant))
                ):
                    rows.append((what, functools.partial(run_files.samples, variant=variant)))
        if "reconstructions" in exp.show:
            rows.append(("inputs over reconstructions", run_files.reconstructions))
        pictures += _grid_table(run, figures, rows)
    # The pictures show the test images, the validation images without a test set.
    split = "test" if latest.get("has_test_set", True) else "validation"
    if "last_reconstructions" in exp.show and run.last_epoch is not None:
        link = figures.link(run_files.reconstructions(run.last_epoch), "reconstructions")
        if link:
            pictures += [
                f"The first image of each label 0..7 of the {split} set, top, over its "
                f"reconstruction, epoch {run.last_epoch}:",
                "",
                link,
                "",
            ]
    if "manifold" in exp.show:  # the decoded grid beside where the test images' codes fall
        manifold = figures.link(run_files.MANIFOLD, "decoded z grid")
        scatter = figures.link(run_files.LATENT_SCATTER, f"codes of the {split} images")
        pictures += [
            "The data manifold (left: decoded z on a grid of normal percentiles, z_1 to the "
            f"right and z_2 upwards) beside the codes (means of q(z|x)) of the {split} images "
            "coloured by label over the prior's density (grey; right):",
            "",
        ]
        pictures += markdown.table(
            ["manifold", "codes"],
            [[manifold or "(not written yet)", scatter or "(not written yet)"]],
        )
        pictures += [""]
    for name, file, caption in (
        (
            "latent_scatter",
            run_files.LATENT_SCATTER,
            f"Codes of the {split} images over the prior's density (grey)",
        ),
        ("interpolation", run_files.INTERPOLATION, interpolation_caption(split)),
        ("bpd_curve", run_files.BPD_CURVE, "bpd per epoch"),
        ("loss_curve", run_files.LOSS_CURVE, "Losses and discriminator accuracy per epoch"),
        ("error_curve", run_files.ERROR_CURVE, "Error, reconstruction, accuracies per epoch"),
        ("style_grid", run_files.STYLE_GRID, "Fixed styles z (rows) decoded with each class y"),
        ("confusion_matrix", run_files.CONFUSION_MATRIX, "Test labels against predictions"),
        ("cluster_grid", run_files.CLUSTER_GRID, "Each cluster's surest images, and its label"),
    ):
        if name in exp.show:
            link = figures.link(file, caption)
            pictures += [f"{caption}:", "", link or "(not written yet)", ""]
    if "log_likelihood" in exp.show:
        pictures += log_likelihood.section(run, figures)
    return lines + pictures


def write_report(plan: Plan, root: str, docs_dir: str) -> str:
    """Writes DOCS/plan.report_file and its figures from the workdirs under ROOT: its path. A
    section per experiment (with its seeds' spread and full-scale runs), a table per sweep."""
    experiments, headlines = plan.experiments, plan.headlines
    os.makedirs(docs_dir, exist_ok=True)
    # The figures of the last report go, so none is left stale; only the folders it writes
    # (DOCS may be a folder of the user's own: nothing else in it is touched).
    for exp in experiments:
        for name in (exp.name, _full_scale_figures(exp.name)):
            shutil.rmtree(os.path.join(docs_dir, plan.figures, name), ignore_errors=True)
    runs = {exp.name: load_run(plans.run_dir(root, exp.name)) for exp in experiments}
    full_root = plans.full_scale_root(root)
    full = {exp.name: load_run(plans.run_dir(full_root, exp.name)) for exp in experiments}
    full = {name: run for name, run in full.items() if run is not None}

    # Short labels (D1, M1, ...) for data sets and machines, so the summary table stays narrow.
    labels: dict[str, dict[str, str]] = {"data": {}, "machine": {}}
    official: dict[str, str] = {}  # data -> the official data set its files were checked to be
    for run in [*runs.values(), *full.values()]:
        if run is None:
            continue
        if run.latest.get("official_data"):
            official[run.latest.get("data", "")] = run.latest["official_data"]
        for kind, prefix, values in (
            ("data", "D", [run.latest.get("data", "not recorded")]),
            ("machine", "M", machines(run) or [markdown.machine_label(None)]),
        ):
            for value in values:
                labels[kind].setdefault(value, f"{prefix}{len(labels[kind]) + 1}")

    scales = sorted({r.latest.get("epoch_scale", 1.0) for r in runs.values() if r is not None})
    today = datetime.date.today().isoformat()
    plan_flag = "" if plan.name == "assignment" else f"--plan {plan.name} "
    lines = [
        f"# {plan.title}",
        "",
        f"Written {today} by `scripts/reproduce.py` from the workdirs under "
        f"`{markdown.display_path(os.path.abspath(root))}`. Rewrite it from the same "
        f"workdirs, without training, with `python scripts/reproduce.py {plan_flag}--root ROOT "
        "--report_only`; running the command without `--report_only` trains on where each run "
        "stopped (the trainers resume from their latest checkpoint; finished experiments are "
        "skipped).",
        "",
    ]
    if any(s != 1.0 for s in scales):
        lines += [
            f"**Shortened runs** (epoch scale {', '.join(map(str, scales))}): the numbers below "
            "come from fewer epochs than the assignment asks for and cannot be compared with the "
            "course's reference.",
            "",
        ]
    lines += ["## Final numbers", ""]
    lines += _summary_table(experiments, runs, "", headlines, labels, compare=True)
    lines += [""]
    lines += [
        f"- {label}: {value}"
        + (
            f" (the official {input_pipeline.TITLES[official[value]]} files: contents checked)"
            if value in official
            else ""
        )
        for value, label in labels["data"].items()
    ]
    lines += [f"- {label}: {value}" for value, label in labels["machine"].items()]
    kinds = dict.fromkeys(exp.get_config().model for exp in experiments)  # in the plan's order
    lines += [
        "",
        " ".join(
            [
                "Train numbers are the means over the last epoch's steps; validation numbers are "
                "of the model after the last epoch.",
                *(headlines[kind].note for kind in kinds if headlines[kind].note),
                "Without a test set (a folder of the t10k files only) there is no test number.",
            ]
        ),
        "",
    ]
    if plan.samples is not None and any(
        os.path.exists(os.path.join(r.workdir, run_files.SAMPLE_QUALITY))
        for r in [*runs.values(), *full.values()]
        if r is not None
    ):
        lines += [
            f"The samples of these runs in numbers (Parzen, FID, coverage): "
            f"[{plan.samples.report_file}]({plan.samples.report_file}).",
            "",
        ]
    # The page of this plan's z 2 runs (another plan's page in the same docs folder is not).
    if plan.explore and os.path.exists(os.path.join(docs_dir, plans.EXPLORER_DIR, "index.html")):
        lines += [
            "The z 2 runs side by side on one latent plane, decoded at the pointer: "
            f"[{plans.EXPLORER_DIR}/index.html]({plans.EXPLORER_DIR}/index.html) (open the "
            "file in a browser; a code host shows its source).",
            "",
        ]
    lines += paper.section(plan.paper_rows, root, docs_dir, plan.figures)
    lines += across_runs.seed_section(root, experiments, runs, headlines)
    lines += across_runs.sweep_section(root, plan.sweeps, headlines)
    lines += across_runs.code_section(experiments, runs, plan.comparisons)
    for gallery in plan.galleries:
        lines += across_runs.gallery_section(gallery, root, runs, docs_dir, plan.figures)
    for i, exp in enumerate(experiments, 1):
        run = runs[exp.name]
        headline = headlines[run.kind] if run is not None else None
        lines += _section(f"{i}.", exp, run, docs_dir, labels, headline, plan.figures)
    if full:
        data = sorted({r.latest.get("data", "not recorded") for r in full.values()})
        lines += [
            "# Full scale",
            "",
            f"The headline experiments again on {'; '.join(data)}: the data's own train / "
            "validation / test split, at the epoch scale of the runs above.",
            "",
        ]
        shown = [e for e in experiments if e.name in full]
        lines += _summary_table(shown, full, "F", headlines, labels, compare=False)
        lines += [""]
        for i, exp in enumerate(shown, 1):
            run = full[exp.name]
            lines += _section(
                f"F{i}.",
                exp,
                run,
                docs_dir,
                labels,
                headlines[run.kind],
                plan.figures,
                figures_name=_full_scale_figures(exp.name),
                compare=False,
            )

    path = os.path.join(docs_dir, plan.report_file)
    files.write_text(path, "\n".join(lines).rstrip() + "\n")
    return path
