"""docs/results.md from the workdirs of `common.reproduce`: numbers, figures, data and machine.

Only rendering: what the experiments are and where their runs lie is `common.registry`'s, what a
workdir holds `common.run_files`' and reading it back `common.workdir.load_run`'s. Everything
comes from files in each workdir, so the report can be rewritten at any time without training:
the config, the metric rows, the pictures the trainers write, the session record of
`common.reproduce` (epoch scale, overrides, data, machine and wall time of each session) and, for
the VAE with z 20, the log-likelihood of `vae.evaluate`. Figures are copied to
DOCS/figures/EXPERIMENT/ so that the markdown links stay valid in the repository.
"""

from __future__ import annotations

import datetime
import functools
import glob
import json
import os
import shutil
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common import registry, run_files, train_utils
from common.registry import (
    Comparison,
    Experiment,
    Gallery,
    Headline,
    Reference,
    Registry,
    Sweep,
)
from common.workdir import Run, load_run

INTERPOLATION_CAPTION = (
    "Interpolation between test digits (rows: the first digit of labels 0 -> 1, 2 -> 3, 4 -> 5, "
    "6 -> 7; columns: the decoded codes on the straight line between their codes)"
)
CODE_COLUMNS = (
    ("val_code_mmd", "MMD² to N(0, I)"),
    ("val_code_mean_norm", "norm of the mean"),
    ("val_code_cov_dist", "distance of the covariance from I"),
)


def display_path(path: str) -> str:
    """A path fit for a committed document: relative when under the working directory,
    otherwise `.../LAST_PART` (no machine-specific absolute paths)."""
    if not path:
        return path
    rel = os.path.relpath(os.path.abspath(path), os.getcwd())
    if not rel.startswith(".."):
        return rel
    return ".../" + os.path.basename(os.path.normpath(path))


def machine_label(machine: dict[str, Any] | None) -> str:
    """One line: CPU and cores, jax backend and devices, jax version."""
    if not machine:
        return "not recorded (trained outside scripts/reproduce.py)"
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores; "
        f"jax {machine.get('jax_version', '?')} on {machine.get('backend', '?')}: "
        f"{machine.get('num_devices', '?')} x {machine.get('device_kind', '?')}"
    )


# ----------------------------------------------------------------------------- reading a run


def sample_epochs(run: Run) -> list[tuple[int, list[int]]]:
    """[(epoch of this run, [assignment epochs it stands for])] for the grids, in order."""
    pairs = run.latest.get("sample_epochs")
    if pairs is None:  # not run by common.reproduce: the config's epochs, unscaled
        pairs = [(e, e) for e in run.config.get("sample_epochs", ())]
    grouped: dict[int, list[int]] = {}
    for assignment_epoch, epoch in pairs:
        grouped.setdefault(epoch, []).append(assignment_epoch)
    return sorted(grouped.items())


def assignment_epochs(run: Run) -> int:
    """The epochs the assignment's schedule asks for (the config's before any scaling)."""
    return run.latest.get("config_num_epochs", run.config.get("num_epochs"))


def status(run: Run | None) -> str:
    if run is None:
        return "not run"
    target = run.config.get("num_epochs")
    if run.final is not None and run.last_epoch == target:
        return "complete"
    return f"stopped after epoch {run.last_epoch} of {target} (rerun to resume)"


# ----------------------------------------------------------------------------- markdown pieces


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def copy_png(src: str, dst: str) -> None:
    """Copies a PNG; a grey one (matplotlib writes RGBA) is stored with one 8-bit channel,
    which halves the size of the sample grids committed to the repository."""
    import numpy as np
    from PIL import Image  # a dependency of matplotlib

    with Image.open(src) as image:
        pixels = np.asarray(image)
    opaque_grey = (
        pixels.ndim == 3
        and pixels.shape[-1] in (3, 4)
        and (pixels[..., :3] == pixels[..., :1]).all()
        and (pixels.shape[-1] == 3 or (pixels[..., 3] == 255).all())
    )
    if opaque_grey:
        Image.fromarray(np.ascontiguousarray(pixels[..., 0])).save(dst, optimize=True)
    else:
        shutil.copyfile(src, dst)


class _Figures:
    """Copies a workdir's PNGs into DOCS/FIGURES/EXPERIMENT/ and returns markdown links."""

    def __init__(self, docs_dir: str, figures: str, name: str, workdir: str):
        self.docs_dir, self.workdir = docs_dir, workdir
        self.folder = os.path.join(docs_dir, figures, name)

    def link(self, rel_path: str, alt: str) -> str | None:
        src = os.path.join(self.workdir, rel_path)
        if not os.path.exists(src):
            return None
        dst = os.path.join(self.folder, rel_path.replace(os.sep, "_"))
        os.makedirs(self.folder, exist_ok=True)
        copy_png(src, dst)
        return f"![{alt}]({os.path.relpath(dst, self.docs_dir).replace(os.sep, '/')})"


def _epoch_header(epoch: int, assignment: list[int], reached: bool) -> str:
    text = f"epoch {epoch}"
    if assignment != [epoch]:
        text += f" (assignment: {', '.join(map(str, assignment))})"
    return text if reached else text + ", not reached yet"


def _grid_table(
    run: Run, figures: _Figures, rows: Sequence[tuple[str, Callable[[int], str]]]
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
    return _table(header, body) + [""]


def _epoch_table(run: Run, headline: Headline) -> list[str]:
    columns = [(key, key, headline.fmt) for key in headline.table] + [("seconds", "seconds", ".1f")]
    wanted = {0, 1, 2, *(e for e, _ in sample_epochs(run))}
    if run.last_epoch is not None:
        wanted.add(run.last_epoch)
    rows = [r for r in run.rows if r["epoch"] in wanted]
    body = [[str(r["epoch"])] + [_fmt(r.get(k), spec) for k, _, spec in columns] for r in rows]
    return _table(["epoch"] + [h for _, h, _ in columns], body) + [""]


def _final_numbers(run: Run, headline: Headline) -> tuple[str, str, str]:
    """(train, validation at the last epoch, test of the final row), formatted."""
    train_key, val_key, test_key = (f"{s}_{headline.metric}" for s in ("train", "val", "test"))
    spec = headline.fmt
    last = run.rows[-1] if run.rows else {}
    train = _fmt(last.get(train_key), spec)
    val = _fmt(last.get(val_key), spec)
    if run.final is None:
        test = "(not finished)"
    elif test_key in run.final:
        test = _fmt(run.final[test_key], spec)
        if run.final.get("best_epoch") is not None:
            test += f" (best validation epoch {int(run.final['best_epoch'])})"
    else:
        test = "no test set"
    return train, val, test


def _comparison(run: Run, reference: Reference, compare: bool = True) -> str:
    """The course's number beside the run's; compare=False: other data, the value alone."""
    value = (run.rows[-1] if run.rows else {}).get(reference.metric)
    if value is None:
        return reference.text
    if not compare:
        return f"{reference.text} (MNIST); this run, on other data, not compared: {value:.4f}"
    if reference.below:
        verdict = f"{value:.4f}, {'met' if value < reference.value else 'not met'}"
    else:
        verdict = f"{value:.3f}, {value - reference.value:+.3f} from it"
    text = f"{reference.text}; this run: {verdict}"
    target = assignment_epochs(run)
    if run.last_epoch is not None and target is not None and run.last_epoch < target:
        text += f" (but only {run.last_epoch} of {target} epochs ran)"
    return text


def _full_scale_figures(name: str) -> str:
    """The folder of DOCS/figures that holds the full-scale run of experiment `name`."""
    return f"{registry.FULL_SCALE_DIR}_{name}"


def _summary_table(
    experiments: Sequence[Experiment],
    runs: Mapping[str, Run | None],
    prefix: str,
    headlines,
    labels: dict[str, dict[str, str]],
    compare: bool,
) -> list[str]:
    """One row per experiment: epochs, the final train / validation / test numbers, the course's.

    compare=False: the runs read other data than the course's, so its numbers get no verdict.
    """
    body = []
    for i, exp in enumerate(experiments, 1):
        run = runs.get(exp.name)
        if run is None or not run.rows:
            body.append([f"{prefix}{i}", f"`{exp.name}`", exp.questions, "not run"] + [""] * 7)
            continue
        headline = headlines[run.kind]
        train, val, test = _final_numbers(run, headline)
        reference = _comparison(run, exp.reference, compare) if exp.reference else ""
        machines = ", ".join(labels["machine"][m] for m in _machines(run) or [machine_label(None)])
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
                machines,
            ]
        )
    header = ["#", "experiment", "question", "epochs run / assignment's", "number"]
    header += ["train (last epoch)", "validation (last epoch)", "test (final)"]
    return _table(header + ["course reference", "data", "machine"], body)


def _timed_sessions(run: Run) -> tuple[float, int]:
    """The wall-clock seconds of the run's sessions summed, and how many sessions ended (killed,
    died) before they could record their time: their share is missing from the sum."""
    timed = [s["wall_s"] for s in run.sessions if s.get("wall_s") is not None]
    return sum(timed), len(run.sessions) - len(timed)


def _sessions_wall_clock(run: Run) -> str:
    """'8m44s', or '13m16s + 1 untimed session'."""
    seconds, untimed = _timed_sessions(run)
    text = train_utils.format_duration(seconds)
    return f"{text} + {untimed} untimed session{'s' if untimed > 1 else ''}" if untimed else text


def _wall_time(run: Run) -> str:
    sessions = run.sessions
    seconds = [r["seconds"] for r in run.rows if r["epoch"] > 0 and "seconds" in r]
    parts = []
    if sessions:
        total, untimed = _timed_sessions(run)
        timed = len(sessions) - untimed
        parts.append(
            f"{train_utils.format_duration(total)} wall clock in {timed} "
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
            value = display_path(value)
        shown.append(f"`{key}={value}`")
    return ", ".join(shown)


def _log_likelihood(run: Run, figures: _Figures) -> list[str]:
    lines = ["**Importance-weighted log-likelihood** (vae.evaluate):", ""]
    json_path = os.path.join(run.workdir, run_files.LOG_LIKELIHOOD)
    md_path = os.path.join(run.workdir, run_files.LOG_LIKELIHOOD_TABLE)
    if not os.path.exists(json_path):
        return lines + [
            "Not computed: it needs `vae.evaluate` and `scripts/reproduce.py --iw_images N` "
            "(N > 0) after training.",
            "",
        ]
    with open(json_path) as f:
        result = json.load(f)
    try:
        lines.append(
            f"{result['num_images']} {result['split']} images, checkpoint of epoch "
            f"{result['epoch']}; ELBO {result['elbo_bpd']:.4f} bpd. IW: K samples from the "
            "encoder's q(z|x); prior: K samples from p(z). ESS: effective sample size of the "
            "K importance weights (mean over images)."
        )
        lines.append("")
        body = [
            [
                str(r["k"]),
                f"{r['iw_bpd']:.4f} ± {r['iw_bpd_se']:.4f}",
                f"{r['iw_ess']:.1f}",
                f"{r['prior_bpd']:.4f}",
                f"{r['prior_ess']:.2f}",
            ]
            for r in result["rows"]
        ]
        lines += _table(["K", "IW bpd (± s.e.)", "IW ESS", "prior MC bpd", "prior ESS"], body)
    except (KeyError, TypeError):  # another format than expected: show the evaluator's own table
        if os.path.exists(md_path):
            with open(md_path) as f:
                lines.append(f.read().strip())
    lines.append("")
    link = figures.link(run_files.PROPOSAL_VARIANCE, "prior vs posterior proposal")
    if link:
        lines += [link, ""]
    return lines


# ----------------------------------------------------------------------------- the report


def learnt(run: Run, headline: Headline) -> bool | None:
    """Whether the validation number (lower is better) fell by more than 1% from epoch 1 to the
    last epoch (at least 3); None when the run is too short or lacks the number."""
    key = f"val_{headline.metric}"
    first, last = run.row(1), run.rows[-1] if run.rows else None
    if first is None or last is None or last["epoch"] < 3 or key not in first or key not in last:
        return None
    return last[key] < first[key] - 0.01 * abs(first[key])


def plateau_note(run: Run, headline: Headline) -> str | None:
    """A sentence when the validation number did not fall by 1% after epoch 1 (`learnt`).

    Such a run learnt nothing after its first epoch: for the plain autoencoder that is the
    collapse to one output image (README: "The plain autoencoder's collapse").
    """
    if learnt(run, headline) is not False:
        return None
    key = f"val_{headline.metric}"
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
    figures = _Figures(docs_dir, figures_root, figures_name or exp.name, run.workdir)
    target = assignment_epochs(run)
    scale = latest.get("epoch_scale")
    epochs = f"{run.last_epoch} run of the assignment's {target}"
    if scale not in (None, 1, 1.0):
        epochs += f" (epoch scale {scale})"
    data = latest.get("data", "not recorded")
    lines += [
        f"- **Config**: `{config_file}`; overrides: {_overrides(run)}",
        f"- **Epochs**: {epochs}; {status(run)}",
        f"- **Data** ({labels['data'].get(data, '?')}): {data}",
        "- **Machine**: "
        + "; ".join(
            f"{labels['machine'][m]}: {m}" for m in _machines(run) or [machine_label(None)]
        ),
        f"- **Time**: {_wall_time(run)}",
        f"- **Workdir**: `{display_path(run.workdir)}`",
        f"- **Command**: `{latest.get('command') or 'not recorded'}`",
        "",
    ]
    note = plateau_note(run, headline)
    if note:
        lines += [f"> {note}", ""]
    lines += _epoch_table(run, headline)
    if exp.reference:
        lines += [f"Course reference: {_comparison(run, exp.reference, compare)}.", ""]

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
    if "last_reconstructions" in exp.show and run.last_epoch is not None:
        link = figures.link(run_files.reconstructions(run.last_epoch), "reconstructions")
        if link:
            pictures += [
                "The first digit of each label 0..7 of the test set (of the validation set "
                f"without one), top, over its reconstruction, epoch {run.last_epoch}:",
                "",
                link,
                "",
            ]
    if "manifold" in exp.show:  # the decoded grid beside where the test digits' codes fall
        manifold = figures.link(run_files.MANIFOLD, "decoded z grid")
        scatter = figures.link(run_files.LATENT_SCATTER, "codes of the test digits")
        pictures += [
            "The data manifold (left: decoded z on a grid of normal percentiles, z_1 to the "
            "right and z_2 upwards) beside the codes (means of q(z|x)) of the test digits (the "
            "validation digits without a test set) coloured by label over the prior's density "
            "(grey; right):",
            "",
        ]
        pictures += _table(
            ["manifold", "codes"],
            [[manifold or "(not written yet)", scatter or "(not written yet)"]],
        )
        pictures += [""]
    for name, file, caption in (
        (
            "latent_scatter",
            run_files.LATENT_SCATTER,
            "Codes of the test (or validation) set over the prior's density (grey)",
        ),
        ("interpolation", run_files.INTERPOLATION, INTERPOLATION_CAPTION),
        ("bpd_curve", run_files.BPD_CURVE, "bpd per epoch"),
        ("loss_curve", run_files.LOSS_CURVE, "Losses and discriminator accuracy per epoch"),
    ):
        if name in exp.show:
            link = figures.link(file, caption)
            pictures += [f"{caption}:", "", link or "(not written yet)", ""]
    if "log_likelihood" in exp.show:
        pictures += _log_likelihood(run, figures)
    return lines + pictures


def _code_numbers(run: Run) -> dict[str, float] | None:
    last = run.rows[-1] if run.rows else {}
    if not all(key in last for key, _ in CODE_COLUMNS):
        return None
    return {key: last[key] for key, _ in CODE_COLUMNS}


def _code_section(
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
    lines += _table(["experiment", "epoch"] + [h for _, h in CODE_COLUMNS], body) + [""]
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


def _gallery_section(
    gallery: Gallery, root: str, runs: dict[str, Run | None], docs_dir: str, figures_root: str
) -> list[str]:
    """The gallery's latent scatters side by side, then a table of their codes' numbers (mean ±
    standard deviation over the seeds where the experiment was trained at several) and the
    per-region sample grids, all from the runs' last epochs."""
    shown = [(name, runs.get(name)) for name in gallery.experiments]
    shown = [(name, run) for name, run in shown if run is not None and run.rows]
    if not shown:
        return []
    lines = [f"## {gallery.title}", "", gallery.text, ""]
    figures = {name: _Figures(docs_dir, figures_root, name, run.workdir) for name, run in shown}
    cells = [
        figures[name].link(run_files.LATENT_SCATTER, f"codes of {name}") or "(not written yet)"
        for name, _ in shown
    ]
    lines += _table([f"`{name}`" for name, _ in shown], [cells]) + [""]
    body = []
    for name, run in shown:
        group = [run] + [r for r in seed_runs(root, name) if r.rows]

        def spread(key: str, spec: str, group=group) -> str:
            return _mean_std([r.rows[-1][key] for r in group if key in r.rows[-1]], spec) or "-"

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
    lines += _table(
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
        lines += _table(
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


def seed_runs(root: str, name: str) -> list[Run]:
    """The runs of experiment `name` at other seeds: ROOT/NAME-seedS, by seed."""
    found = []
    for path in registry.seed_dirs(root, name):
        run = load_run(path)
        if run is not None and run.final is not None:
            found.append(run)
    return sorted(found, key=lambda r: r.config.get("seed", 0))


def _mean_std(values: list[float], spec: str) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return format(values[0], spec)
    return f"{statistics.fmean(values):{spec}} ± {statistics.stdev(values):{spec}}"


def _seed_section(root, experiments, runs, headlines) -> list[str]:
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
        for key in (f"train_{headline.metric}", f"val_{headline.metric}"):
            columns.append(
                _mean_std([r.rows[-1][key] for r in group if key in r.rows[-1]], headline.fmt)
            )
        tests = [
            r.final[f"test_{headline.metric}"]
            for r in group
            if f"test_{headline.metric}" in r.final
        ]
        seeds = ", ".join(str(r.config.get("seed")) for r in group)
        times = ", ".join(_sessions_wall_clock(r) if r.sessions else "not recorded" for r in group)
        body.append(
            [
                f"`{exp.name}`",
                seeds,
                headline.text,
                *columns,
                _mean_std(tests, headline.fmt) or "no test set",
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
        *_table(
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


def _sweep_section(root: str, sweeps: Sequence[Sweep], headlines) -> list[str]:
    """Per sweep: a table of each run's validation number, epoch 1 -> last, and who learnt."""
    lines = []
    for sweep in sweeps:
        body, counts = [], []
        for name in sweep.experiments:
            for variant in sweep.variants:
                folder = registry.sweep_root(root, sweep, variant)
                cells, learnt_seeds, ran = [], 0, 0
                for seed in sweep.seeds:
                    run = load_run(registry.run_dir(folder, name, seed))
                    if run is None or not run.rows:
                        cells.append("not run")
                        continue
                    headline = headlines[run.kind]
                    key = f"val_{headline.metric}"
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
            f"`{registry.SWEEPS_DIR}/{sweep.name}/`). A run learnt if that number fell by more "
            "than 1%.",
            "",
            *_table(["experiment", "variant", *(f"seed {s}" for s in sweep.seeds), "learnt"], body),
            "",
            "Seeds at which the model learnt: " + "; ".join(counts) + ".",
            "",
        ]
    return lines


def _machines(run: Run) -> list[str]:
    """The distinct machine labels of the sessions that trained, oldest first."""
    out: list[str] = []
    for session in run.sessions:
        label = machine_label(session.get("machine"))
        if label not in out:
            out.append(label)
    return out


def write_report(plan: Registry, root: str, docs_dir: str) -> str:
    """Writes DOCS/results.md (and DOCS/figures/) from the workdirs under ROOT; returns its path.

    Every experiment of `plan` (the registry) gets its section, its runs at other seeds a spread
    table, its runs on the full-scale data sections of their own, and each sweep whose runs
    exist its table (common.registry says where each run lies). `plan.headlines` say which
    numbers and columns to show for each model kind; `plan.comparisons` which experiments'
    codes to compare in words.
    """
    experiments, headlines = plan.experiments, plan.headlines
    os.makedirs(docs_dir, exist_ok=True)
    # The figures of the last report go, so none is left stale; only the folders it writes
    # (DOCS may be a folder of the user's own: nothing else in it is touched).
    for exp in experiments:
        for name in (exp.name, _full_scale_figures(exp.name)):
            shutil.rmtree(os.path.join(docs_dir, plan.figures, name), ignore_errors=True)
    runs = {exp.name: load_run(registry.run_dir(root, exp.name)) for exp in experiments}
    full_root = registry.full_scale_root(root)
    full = {exp.name: load_run(registry.run_dir(full_root, exp.name)) for exp in experiments}
    full = {name: run for name, run in full.items() if run is not None}

    # Short labels (D1, M1, ...) for data sets and machines, so the summary table stays narrow.
    labels: dict[str, dict[str, str]] = {"data": {}, "machine": {}}
    for run in [*runs.values(), *full.values()]:
        if run is None:
            continue
        for kind, prefix, values in (
            ("data", "D", [run.latest.get("data", "not recorded")]),
            ("machine", "M", _machines(run) or [machine_label(None)]),
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
        f"`{display_path(os.path.abspath(root))}`. Rewrite it from the same workdirs, without "
        f"training, with `python scripts/reproduce.py {plan_flag}--root ROOT --report_only`; "
        "running the "
        "command without `--report_only` trains on where each run stopped (the trainers resume "
        "from their latest checkpoint; finished experiments are skipped).",
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
    lines += [f"- {label}: {value}" for value, label in labels["data"].items()]
    lines += [f"- {label}: {value}" for value, label in labels["machine"].items()]
    lines += [
        "",
        "Train numbers are the means over the last epoch's steps; validation numbers are of the "
        "model after the last epoch; the VAE's test bpd is of the epoch with the best validation "
        "bpd, the AAE's test reconstruction loss of the last epoch. The VAE sees 4-bit pixels "
        "(16 values), the AAE pixels in [-1, 1]. Without a test set (a folder of the t10k "
        "files only) there is no test number.",
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
    if os.path.exists(os.path.join(docs_dir, registry.EXPLORER_DIR, "index.html")):
        lines += [
            "The z 2 runs side by side on one latent plane, decoded at the pointer: "
            f"[{registry.EXPLORER_DIR}/index.html]({registry.EXPLORER_DIR}/index.html) (open the "
            "file in a browser; a code host shows its source).",
            "",
        ]
    lines += _seed_section(root, experiments, runs, headlines)
    lines += _sweep_section(root, plan.sweeps, headlines)
    lines += _code_section(experiments, runs, plan.comparisons)
    for gallery in plan.galleries:
        lines += _gallery_section(gallery, root, runs, docs_dir, plan.figures)
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
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path
