"""The report's sections that compare runs: the codes against the prior, the galleries of
scatters, the spread over seeds and the sweeps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from common.experiments import plans
from common.experiments.plans import Comparison, Experiment, Gallery, Headline, Sweep
from common.report import markdown
from common.report.runs import Run, load_run, seed_runs, sessions_wall_clock
from common.train import run_files

CODE_COLUMNS = (
    ("val_code_mmd", "MMD² to N(0, I)"),
    ("val_code_mean_norm", "norm of the mean"),
    ("val_code_cov_dist", "distance of the covariance from I"),
)


def learnt(run: Run, headline: Headline) -> bool | None:
    """Whether the validation number (lower is better) fell by more than 1% from epoch 1 to the
    last epoch (at least 3); None when the run is too short or lacks the number."""
    key = headline.key("val")
    first, last = run.row(1), run.rows[-1] if run.rows else None
    if first is None or last is None or last["epoch"] < 3 or key not in first or key not in last:
        return None
    return last[key] < first[key] - 0.01 * abs(first[key])


def _code_numbers(run: Run) -> dict[str, float] | None:
    last = run.rows[-1] if run.rows else {}
    if not all(key in last for key, _ in CODE_COLUMNS):
        return None
    return {key: last[key] for key, _ in CODE_COLUMNS}


def code_section(
    experiments: Sequence[Experiment], runs: dict[str, Run | None], comparisons
) -> list[str]:
    """The codes' distance from the prior at the last epoch, and the comparisons in words."""
    numbers = {e.name: _code_numbers(runs[e.name]) for e in experiments if runs[e.name]}
    numbers = {name: n for name, n in numbers.items() if n is not None}
    if not numbers:
        return []
    lines = [
        "## How well the codes match the prior",
        "",
        "The validation images' codes (1,000 of them; drawn from q(z|x) for the VAE and the "
        "stochastic AAE) against as many draws of N(0, I), after the last epoch: the squared "
        "maximum mean discrepancy (inverse multiquadratic kernel), the norm of the codes' mean "
        "and the distance of their covariance from the identity (|cov - I|_F / sqrt(z_dim)); "
        "each is 0 for codes distributed as the prior. Decoded prior samples look like data "
        "where the prior's mass falls on codes the decoder has learnt, so these numbers say how "
        f"much a sample grid can be trusted. Every epoch's values are in `{run_files.METRICS}`.",
        "",
    ]
    body = [
        [f"`{name}`", f"{runs[name].last_epoch}", *(f"{n[key]:.4f}" for key, _ in CODE_COLUMNS)]
        for name, n in numbers.items()
    ]
    lines += markdown.table(["experiment", "epoch"] + [h for _, h in CODE_COLUMNS], body) + [""]
    for c in comparisons:
        if c.first in numbers and c.second in numbers:
            lines += [f"- {_compare_codes(c, numbers[c.first], numbers[c.second])}"]
    return lines + [""]


def prior_label(config: Mapping[str, Any]) -> str:
    """The prior a run's config imposes, in words (a VAE's is N(0, I))."""
    prior = config.get("prior")
    if prior is None or prior.get("name", "gaussian") == "gaussian":
        return f"N(0, I), z {config.get('z_dim')}"
    if prior["name"] == "mixture":
        text = (
            f"mixture of {prior['num_components']} Gaussians (radius {prior['radius']:g}, "
            f"std {prior['radial_std']:g} along it, {prior['tangential_std']:g} across)"
        )
    else:
        text = f"swiss roll (radius {prior['roll_radius']:g}, {prior['roll_turns']:g} turns)"
    if prior.get("labels"):
        share = prior["labelled_share"]
        labelled = "every training image" if share == 1 else f"{share:.0%} of the training images"
        text += f", label-guided ({labelled} labelled)"
    return text


def gallery_section(
    gallery: Gallery, root: str, runs: dict[str, Run | None], docs_dir: str, figures_root: str
) -> list[str]:
    """At the runs' last epochs: the latent scatters side by side, their codes' numbers (mean ±
    std over seeds where there are several), the per-region sample grids."""
    shown = [(name, runs.get(name)) for name in gallery.experiments]
    shown = [(name, run) for name, run in shown if run is not None and run.rows]
    if not shown:
        return []
    lines = [f"## {gallery.title}", "", gallery.text, ""]
    figures = {
        name: markdown.Figures(docs_dir, figures_root, name, run.workdir) for name, run in shown
    }
    cells = [
        figures[name].link(run_files.LATENT_SCATTER, f"codes of {name}") or "(not written yet)"
        for name, _ in shown
    ]
    lines += markdown.table([f"`{name}`" for name, _ in shown], [cells]) + [""]
    body = []
    for name, run in shown:
        group = [run] + [r for r in seed_runs(root, name) if r.rows]

        def spread(key: str, spec: str, group=group) -> str:
            return (
                markdown.mean_std([r.rows[-1][key] for r in group if key in r.rows[-1]], spec)
                or "-"
            )

        body.append(
            [
                f"`{name}`",
                prior_label(run.config),
                str(run.last_epoch),
                ", ".join(str(r.config.get("seed")) for r in group),
                spread("val_code_mmd", ".4f"),
                spread("val_code_own_region", ".3f"),
            ]
        )
    lines += markdown.table(
        [
            "experiment",
            "prior",
            "epoch",
            "seeds",
            "MMD² to its prior",
            "codes in their label's region",
        ],
        body,
    )
    lines += [
        "",
        "MMD²: the validation images' codes (1,000) against as many draws of the run's own prior "
        "(inverse multiquadratic kernel; 0 for a perfect match). Label-guided runs: the share "
        "of the same codes whose nearest component mean (mixture) or stretch of the roll is "
        "their own label's, 0.1 by chance. Several seeds: mean ± standard deviation over them.",
        "",
    ]
    grids = []
    for name, run in shown:
        found = [
            e
            for e in sorted(run.config.get("sample_epochs", ()))
            if os.path.exists(os.path.join(run.workdir, run_files.samples(e, run_files.BY_REGION)))
        ]
        if found:
            link = figures[name].link(
                run_files.samples(found[-1], run_files.BY_REGION), f"{name}: samples per region"
            )
            grids.append((name, found[-1], link))
    if grids:
        lines += [
            "Decoded draws of each region of the prior, a row per region (component k or the "
            "roll's stretch k from the top; label k's region for the label-guided runs):",
            "",
        ]
        lines += markdown.table(
            [f"`{name}`, epoch {epoch}" for name, epoch, _ in grids],
            [[link for _, _, link in grids]],
        )
        lines += [""]
    return lines


def _compare_codes(c: Comparison, a: dict[str, float], b: dict[str, float]) -> str:
    """One sentence, every word of it from the numbers: which codes are nearer the prior."""
    mmd_a, mmd_b = a["val_code_mmd"], b["val_code_mmd"]
    nearer, farther = (c.first, c.second) if mmd_a < mmd_b else (c.second, c.first)
    low, high = sorted((mmd_a, mmd_b))
    ratio = f"{high / low:.1f} times" if low > 0 else "far"
    return (
        f"{c.question}: the codes of `{nearer}` are nearer N(0, I) than those of `{farther}` "
        f"(MMD² {low:.4f} against {high:.4f}, {ratio} smaller; covariance distance "
        f"{a['val_code_cov_dist']:.2f} for `{c.first}`, {b['val_code_cov_dist']:.2f} for "
        f"`{c.second}`; mean norm {a['val_code_mean_norm']:.2f} and "
        f"{b['val_code_mean_norm']:.2f})."
    )


def seed_section(root, experiments, runs, headlines) -> list[str]:
    """Mean ± standard deviation over seeds of the experiments trained at several seeds."""
    body = []
    for exp in experiments:
        run = runs[exp.name]
        if run is None or run.final is None:
            continue
        group = [run] + seed_runs(root, exp.name)
        if len(group) < 2:
            continue
        headline = headlines[run.kind]
        columns = []
        for key in (headline.key("train"), headline.key("val")):
            columns.append(
                markdown.mean_std(
                    [r.rows[-1][key] for r in group if key in r.rows[-1]], headline.fmt
                )
            )
        test_key = headline.key("test")
        tests = [r.final[test_key] for r in group if test_key in r.final]
        seeds = ", ".join(str(r.config.get("seed")) for r in group)
        times = ", ".join(sessions_wall_clock(r) if r.sessions else "not recorded" for r in group)
        body.append(
            [
                f"`{exp.name}`",
                seeds,
                headline.text,
                *columns,
                markdown.mean_std(tests, headline.fmt) or "no test set",
                times,
            ]
        )
    if not body:
        return []
    return [
        "## Seed spread of the headline numbers",
        "",
        "The same experiment trained from other seeds (`--seeds`; workdirs NAME-seedS): the "
        "mean ± the standard deviation over the seeds of the last epoch's numbers and the test "
        "number.",
        "",
        *markdown.table(
            [
                "experiment",
                "seeds",
                "number",
                "train (last epoch)",
                "validation (last epoch)",
                "test (final)",
                "wall clock per seed",
            ],
            body,
        ),
        "",
    ]


def sweep_section(root: str, sweeps: Sequence[Sweep], headlines) -> list[str]:
    """Per sweep: a table of each run's validation number, epoch 1 -> last, and who learnt."""
    lines = []
    for sweep in sweeps:
        body, counts = [], []
        for name in sweep.experiments:
            for variant in sweep.variants:
                folder = plans.sweep_root(root, sweep, variant)
                cells, learnt_seeds, ran = [], 0, 0
                for seed in sweep.seeds:
                    run = load_run(plans.run_dir(folder, name, seed))
                    if run is None or not run.rows:
                        cells.append("not run")
                        continue
                    headline = headlines[run.kind]
                    key = headline.key("val")
                    first, last = run.row(1) or {}, run.rows[-1]
                    cells.append(f"{first.get(key, float('nan')):.4f} -> {last[key]:.4f}")
                    ran += 1
                    learnt_seeds += bool(learnt(run, headline))
                if ran:
                    body.append([f"`{name}`", variant.label, *cells, f"{learnt_seeds} of {ran}"])
                    counts.append(f"`{name}` with {variant.label}: {learnt_seeds} of {ran}")
        if not body:
            continue
        lines += [
            f"## {sweep.title}",
            "",
            f"Validation number at epoch 1 -> epoch {sweep.epochs} for each seed (workdirs under "
            f"`{plans.SWEEPS_DIR}/{sweep.name}/`). A run learnt if that number fell by more "
            "than 1%.",
            "",
            *markdown.table(
                ["experiment", "variant", *(f"seed {s}" for s in sweep.seeds), "learnt"], body
            ),
            "",
            "Seeds at which the model learnt: " + "; ".join(counts) + ".",
            "",
        ]
    return lines
