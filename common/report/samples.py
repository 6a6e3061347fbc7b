"""docs/sample_quality.md from the workdirs' run_files.SAMPLE_QUALITY, rendering only: every
number and comparison comes from the stored results, so `--report_only` rewrites it.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from common import files
from common.evaluation import sample_quality
from common.experiments import plans
from common.experiments.plans import Comparison, Experiment, SampleQuality
from common.report import markdown, verdicts
from common.train import run_files


class Metric(NamedTuple):
    key: str
    name: str
    fmt: str
    higher: bool  # whether a higher value is better


METRICS = (
    Metric("parzen_nats", "Parzen log-likelihood", ".1f", True),
    Metric("fid", "FID (classifier features)", ".2f", False),
    Metric("coverage", "coverage", ".3f", True),
    Metric("rarest_share", "rarest class's share", ".3f", True),
    Metric("recognisability", "recognisability", ".3f", True),
)
HEADER = ["Parzen (nats)", "σ", "FID", "coverage", "rarest class", "recognisability"]


class Evaluated(NamedTuple):
    """One workdir's stored results: {epoch: result}, in epoch order."""

    name: str
    workdir: str
    results: dict[int, dict[str, Any]]

    @property
    def last(self) -> dict[str, Any]:
        return self.results[max(self.results)]


def load(root: str, experiments: Sequence[Experiment]) -> dict[str, Evaluated]:
    """{name: Evaluated} of the experiments whose workdir under `root` holds results."""
    found = {}
    for exp in experiments:
        workdir = plans.run_dir(root, exp.name)
        results = sample_quality.read_results(workdir)
        if results:
            found[exp.name] = Evaluated(
                exp.name, workdir, {int(e): r for e, r in sorted(results.items(), key=_epoch)}
            )
    return found


def _epoch(item: tuple[str, Any]) -> int:
    return int(item[0])


def _parzen(v: dict[str, Any]) -> str:
    if "parzen_nats" not in v:
        return "—"
    return f"{v['parzen_nats']:.1f} ± {v['parzen_se']:.1f}"


def _row(v: dict[str, Any]) -> list[str]:
    sigma = f"{v['sigma']:.3f}" if "sigma" in v else "—"
    return [
        _parzen(v),
        sigma,
        f"{v['fid']:.2f}",
        f"{v['coverage']:.3f}",
        f"{v['rarest_share']:.3f}",
        f"{v['recognisability']:.3f}",
    ]


def variant_label(result: dict[str, Any], variant: str) -> str:
    """e.g. "pixel means": what the stored variant's images are, briefly."""
    return result["variants"][variant]["text"]


def data_text(source: str) -> str:
    """A data source fit for a committed document ("IDX folder .../fashion-mnist")."""
    prefix = "IDX folder "
    if source.startswith(prefix):
        return prefix + markdown.display_path(source[len(prefix) :])
    return source


def _data_labels(evaluated: Sequence[Evaluated]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for ev in evaluated:
        for result in ev.results.values():
            labels.setdefault(result["data"], f"D{len(labels) + 1}")
    return labels


def headline_rows(
    experiments: Sequence[Experiment], found: dict[str, Evaluated], labels: dict[str, str]
) -> list[list[str]]:
    """A row per experiment: its last evaluated epoch's main samples (README copies them)."""
    rows = []
    for exp in experiments:
        if exp.name not in found:
            continue
        result = found[exp.name].last
        v = result["variants"][result["main"]]
        rows.append(
            [
                f"`{exp.name}`",
                exp.questions,
                labels[result["data"]],
                str(result["epoch"]),
                variant_label(result, result["main"]),
                *_row(v),
            ]
        )
    return rows


def _ceiling_lines(found: Sequence[Evaluated], labels: dict[str, str]) -> list[str]:
    """Per data set: the protocol's image sets, the classifier and the real images' numbers."""
    seen: dict[str, dict[str, Any]] = {}
    for ev in found:
        for result in ev.results.values():
            seen.setdefault(result["data"], result)
    rows = []
    for data, result in seen.items():
        clf = result["classifier"]
        rows.append(
            [
                labels[data],
                data_text(data),
                result["sets"]["selection"],
                result["sets"]["reference"],
                f"{clf['accuracy']:.4f} ({clf['split']})",
                result["sets"]["real"],
                *_row(result["real"])[2:],
            ]
        )
    header = ["", "data", "σ chosen on", "scored on", "classifier accuracy", "real images"]
    return markdown.table(header + HEADER[2:], rows)


def experiment_table(ev: Evaluated) -> list[str]:
    """Every evaluated epoch and variant of one run, and its data's real images."""
    rows = []
    for epoch, result in ev.results.items():
        for variant, v in result["variants"].items():
            rows.append([str(epoch), variant_label(result, variant), *_row(v)])
    rows.append(["real", ev.last["sets"]["real"], *_row(ev.last["real"])])
    return markdown.table(["epoch", "samples", *HEADER], rows)


def _values(metric: Metric, v: dict[str, Any]) -> str:
    return format(v[metric.key], metric.fmt)


def progression(question: str, ev: Evaluated) -> str:
    """How the main samples' numbers change over the evaluated epochs, in one paragraph."""
    epochs = list(ev.results)
    main = ev.last["main"]
    parts = []
    for metric in METRICS:
        values = [ev.results[e]["variants"][main].get(metric.key) for e in epochs]
        if None in values:
            continue
        parts.append(f"{metric.name} {' → '.join(format(x, metric.fmt) for x in values)}")
    text = (
        f"**{question}** (`{ev.name}`, {variant_label(ev.last, main)}): over epochs "
        f"{', '.join(map(str, epochs))} " + "; ".join(parts) + "."
    )
    if len(epochs) >= 3:
        fid = [ev.results[e]["variants"][main]["fid"] for e in epochs]
        total = fid[0] - fid[-1]
        if total != 0:
            steps = [fid[i] - fid[i + 1] for i in range(len(fid) - 1)]
            i = max(range(len(steps)), key=lambda j: steps[j] / total)
            text += (
                f" The largest share of the FID's change from epoch {epochs[0]} to "
                f"{epochs[-1]} comes between epochs {epochs[i]} and {epochs[i + 1]} "
                f"({steps[i] / total:.0%})."
            )
    real = ev.last["real"]
    text += (
        f" Real images ({ev.last['sets']['real']}): FID {real['fid']:.2f}, coverage "
        f"{real['coverage']:.3f}, recognisability {real['recognisability']:.3f}."
    )
    others = [v for v in ev.last["variants"] if v != main]
    for other in others:
        o, m = ev.last["variants"][other], ev.last["variants"][main]
        text += (
            f" At epoch {ev.last['epoch']} the {variant_label(ev.last, other)} score Parzen "
            f"{_parzen(o)} and FID {o['fid']:.2f} against {_parzen(m)} and {m['fid']:.2f}."
        )
    return text


def comparison(pair: Comparison, a: Evaluated, b: Evaluated) -> str | None:
    """Which of two experiments' main samples leads on each number at their last common epoch;
    Parzen differences within two standard errors are level."""
    common = sorted(set(a.results) & set(b.results))
    if not common:
        return None
    epoch = common[-1]
    ra, rb = a.results[epoch], b.results[epoch]
    va, vb = ra["variants"][ra["main"]], rb["variants"][rb["main"]]
    ahead: dict[str, list[str]] = {a.name: [], b.name: []}
    level = []
    for metric in METRICS:
        x, y = va[metric.key], vb[metric.key]
        diff = abs(x - y)
        both = f"{_values(metric, va)} vs {_values(metric, vb)}"
        if (
            metric.key == "parzen_nats"
            and diff <= 2 * (va["parzen_se"] ** 2 + vb["parzen_se"] ** 2) ** 0.5
        ):
            level.append(f"{metric.name} ({both}: within two standard errors)")
            continue
        if x == y:
            level.append(f"{metric.name} ({both})")
            continue
        winner = a.name if (x > y) == metric.higher else b.name
        ahead[winner].append(f"{metric.name} by {format(diff, metric.fmt)} ({both})")
    parts = [f"`{name}` is ahead on {', '.join(items)}" for name, items in ahead.items() if items]
    if level:
        parts.append(f"level on {', '.join(level)}")
    return (
        f"**{pair.question}** (`{a.name}` against `{b.name}`, epoch {epoch}, numbers in that "
        f"order): " + "; ".join(parts) + "."
    )


def _is_paper_data(result: dict[str, Any]) -> bool:
    """Whether a result was scored on the paper's data: the official MNIST files (read from a
    folder whose contents were checked, or downloaded as tfds registers them)."""
    return result.get("official_data") == "mnist" or result["data"] == "tfds mnist"


def paper_section(spec: SampleQuality, found: dict[str, Evaluated]) -> list[str]:
    """The paper's Table 1 with this project's runs beside it; on the paper's data each with
    its verdict against the paper's AAE (the last of `spec.paper`)."""
    reference = spec.paper[-1]
    rows = [
        [
            f"{p.model} (paper)",
            f"{p.value:g} ± {p.error:g}",
            "MNIST (60,000 train, 10,000 test)",
            "",
        ]
        for p in spec.paper
    ]
    # A verdict needs the paper's protocol: its test images and its number of samples (a
    # Parzen estimate rises with the samples it is built on).
    reasons = {
        "data": "on other images than the paper's (not the official MNIST test images)",
        "samples": "with another number of samples a model than the paper's "
        f"{sample_quality.NUM_SAMPLES:,}",
    }
    shown, why_not = 0, set()
    for name in spec.beside_paper:
        if name not in found:
            continue
        result = found[name].last
        v = result["variants"][result["main"]]
        why = {"data"} if not _is_paper_data(result) else set()
        if result["num_samples"] != sample_quality.NUM_SAMPLES:
            why.add("samples")
        verdict = ""
        if not why and "parzen_nats" in v:
            verdict = verdicts.against(
                v["parzen_nats"],
                reference.value,
                lower_is_better=False,
                error=v["parzen_se"],
                reference_error=reference.error,
                fmt=".1f",
            )
        rows.append(
            [
                f"`{name}`, epoch {result['epoch']}, {result['num_samples']:,} samples",
                _parzen(v),
                f"{data_text(result['data'])}: scored on {result['sets']['reference']}",
                verdict,
            ]
        )
        shown, why_not = shown + 1, why_not | why
    if not shown:
        names = ", ".join(f"`{n}`" for n in spec.beside_paper)
        text = f"Not scored yet: {names}."
    elif not why_not:
        text = (
            f"Ours are scored as the paper's, each against its {reference.model} "
            f"({reference.value:g} ± {reference.error:g}) with both standard errors. The networks "
            "differ: the paper's are fully connected (hidden layers of 1,000 units), ours the "
            "course's convolutional encoder and decoder, trained for the epochs shown; the "
            f"protocol (a Gaussian Parzen window on {sample_quality.NUM_SAMPLES:,} samples, its "
            "width chosen on validation images, scored on the official 10,000 test images) is "
            "the same."
        )
    else:
        text = (
            f"Scored {' and '.join(reasons[r] for r in sorted(why_not))}: no verdict from these "
            "numbers."
        )
    return [
        "## Beside the AAE paper's Table 1",
        "",
        "Makhzani et al. (2015), Table 1: Parzen-window log-likelihood of MNIST test images "
        "under 10,000 samples of each model (nats; higher is better). " + text,
        "",
        *markdown.table(
            ["model", "Parzen (nats)", "data", f"against the paper's {reference.model}"], rows
        ),
        "",
    ]


def write_sample_report(spec: SampleQuality, root: str, docs_dir: str) -> str | None:
    """Writes DOCS/spec.report_file from the results under ROOT and ROOT/full_scale; its path, or
    None when no run has been evaluated."""
    found = load(root, spec.experiments)
    full = load(plans.full_scale_root(root), spec.experiments)
    if not found and not full:
        return None
    labels = _data_labels([*found.values(), *full.values()])
    everything = [*found.values(), *full.values()]
    samples = sorted({r["num_samples"] for ev in everything for r in ev.results.values()})
    seconds = [r["seconds"] for ev in everything for r in ev.results.values()]
    machines = sorted(
        {markdown.machine_label(r.get("machine")) for ev in everything for r in ev.results.values()}
    )
    today = datetime.date.today().isoformat()
    lines = [
        "# Sample quality: the AAE paper's Parzen protocol and a classifier's view",
        "",
        f"Written {today} by `scripts/reproduce.py` from the `{run_files.SAMPLE_QUALITY}` of the "
        f"workdirs under `{markdown.display_path(os.path.abspath(root))}` "
        "(`scripts/evaluate_samples.py` evaluates one workdir). Each number is of "
        f"{', '.join(f'{n:,}' for n in samples)} samples of a model at one checkpoint.",
        "",
        "- **Parzen (nats)**: the mean log-likelihood of the scored images under a Gaussian "
        "kernel density on the samples (images in [0, 1]), ± its standard error, with the "
        "kernel's width σ chosen from logspace(-1, 0, 10) on other validation images "
        "(Makhzani et al. 2015; Goodfellow et al.'s `parzen_ll.py`). Higher is better; crude in "
        "784 dimensions.",
        "- **FID (classifier features)**: the Fréchet distance between the samples' and the "
        "scored images' penultimate features of a small classifier trained on the training "
        "split (common/evaluation/classifier.py); lower is better; comparable inside this "
        "project only, and only between numbers of as many images.",
        "- **coverage**: the entropy of the predicted classes' shares over log 10 (1: every "
        "class alike); **rarest class**: the least predicted class's share (0.1 when even); "
        "**recognisability**: the classifier's mean top-class probability.",
        f"- Evaluated on {'; '.join(machines)}; {min(seconds):.0f}-{max(seconds):.0f} s per "
        "checkpoint, the classifier's training (once per data set) included where it ran.",
        "",
        "## The data, the classifier and real images (the ceiling)",
        "",
        *_ceiling_lines(everything, labels),
        "",
        "## The last evaluated epoch of each experiment",
        "",
        "The samples a model's numbers are of: the VAE's pixel means (the drawn 4-bit pixels "
        "are in its own table), the AAE's and AE's decoded prior draws.",
        "",
        *markdown.table(
            ["experiment", "questions", "data", "epoch", "samples", *HEADER],
            headline_rows(spec.experiments, found, labels),
        ),
        "",
    ]
    if full:
        lines += [
            "Full scale:",
            "",
            *markdown.table(
                ["experiment", "questions", "data", "epoch", "samples", *HEADER],
                headline_rows(spec.experiments, full, labels),
            ),
            "",
        ]
    lines += [f"- {label}: {data_text(data)}" for data, label in labels.items()] + [""]
    lines += paper_section(spec, found)
    paragraphs = []
    for question, name in spec.over_epochs:
        if name in found and len(found[name].results) > 1:
            paragraphs.append(progression(question, found[name]))
    for pair in spec.pairs:
        if pair.first in found and pair.second in found:
            text = comparison(pair, found[pair.first], found[pair.second])
            if text:
                paragraphs.append(text)
    if paragraphs:
        lines += ["## The questions, in numbers", ""]
        lines += [p + "\n" for p in paragraphs]
    lines += ["## Every evaluated epoch", ""]
    for prefix, runs in (("", found), ("Full scale: ", full)):
        for exp in spec.experiments:
            if exp.name in runs:
                ev = runs[exp.name]
                lines += [
                    f"### {prefix}`{exp.name}`: {exp.title} ({exp.questions}; "
                    f"{labels[ev.last['data']]})",
                    "",
                    *experiment_table(ev),
                    "",
                ]
    path = os.path.join(docs_dir, spec.report_file)
    os.makedirs(docs_dir, exist_ok=True)
    with files.replacing(path) as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path
