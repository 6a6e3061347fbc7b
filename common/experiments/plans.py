"""What `scripts/reproduce.py` trains and reports (a `Plan`, built by configs/experiments.py),
and where runs lie under the root (`--root`):

    ROOT/NAME                       the experiment NAME
    ROOT/NAME-seedS                 the same at config.seed = S (the seed spread)
    ROOT/full_scale/NAME            the same on the full-scale data
    ROOT/sweeps/SWEEP/VARIANT/NAME-seedS   one run of a sweep
    ROOT/classifiers                the sample-quality classifiers' cache
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common.errors import ConfigError

SEED_SUFFIX = "-seed"
FULL_SCALE_DIR = "full_scale"
SWEEPS_DIR = "sweeps"
CLASSIFIERS_DIR = "classifiers"
EXPLORER_DIR = "explorer"  # under the docs folder: the explorer page of the z 2 runs


@dataclasses.dataclass(frozen=True)
class Reference:
    """A number the course gives for an experiment."""

    metric: str  # the metrics.jsonl key the number is about
    value: float
    below: bool  # True: the number should be below `value`; False: about `value`
    text: str
    epoch: int | None = None  # the epoch it is about; None: the run's last
    tolerance: float = 0.0  # "about": the numbers that round to `value` (half its last digit)
    lower_is_better: bool = False  # "about": a value below that range is met (a loss, a bpd)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two experiments whose codes the report compares in numbers (e.g. an AE and its AAE)."""

    question: str  # e.g. "Q2.6"
    first: str  # experiment names
    second: str


@dataclasses.dataclass(frozen=True)
class Variant:
    """A change to an experiment's config that a sweep compares."""

    key: str  # folder name, e.g. "warmup100"
    label: str  # e.g. "warm-up of 100 steps (the default)"
    overrides: tuple[tuple[str, Any], ...] = ()  # (dotted field, value)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Short runs over seeds and config variants (`--sweeps`); the report counts the seeds at
    which each learnt."""

    name: str  # folder under ROOT/sweeps
    title: str
    experiments: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    variants: tuple[Variant, ...]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment of the assignment: a config file and what the report shows of it."""

    name: str  # the workdir's name under the root, and the name --only takes
    get_config: Callable[[], Any]  # the config file's
    questions: str  # e.g. "Q1.7, Q1.8"
    title: str
    # Besides the numbers, any of "bpd_curve", "loss_curve", "samples" and "reconstructions" (at
    # the assignment's epochs), "last_reconstructions", "manifold", "latent_scatter",
    # "interpolation", "log_likelihood" (which reproduce then computes).
    show: tuple[str, ...]
    reference: Reference | None = None
    checks: tuple[Reference, ...] = ()  # more of the course's numbers, e.g. along the way
    spread: bool = False  # also trained at other seeds and full-scale without a reference

    @property
    def headline(self) -> bool:
        """Whether --seeds and --full_scale_data train it too."""
        return self.reference is not None or self.spread

    @property
    def config_file(self) -> str:
        """The config file's path in the repository, e.g. "configs/vae.py"."""
        return self.get_config.__module__.replace(".", "/") + ".py"


@dataclasses.dataclass(frozen=True)
class Headline:
    """The number that sums up a run of one model kind (the report's columns), and its table."""

    metric: str  # without its split prefix: "bpd", "recon_loss"
    text: str  # what it is, e.g. "bpd (negative ELBO)"
    fmt: str  # e.g. ".3f"
    table: tuple[str, ...]  # metrics.jsonl keys of the report's per-epoch table
    note: str = ""  # which model its test number is of, and what the model sees (a sentence)
    train_metric: str = ""  # the train column's metric where its name differs; "" = metric

    def key(self, split: str) -> str:
        """The metrics.jsonl key of the number on `split` ("train", "val", "test")."""
        return f"{split}_{(split == 'train' and self.train_metric) or self.metric}"


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Experiments whose latent scatters and code numbers the report shows side by side."""

    title: str
    text: str  # what to look for, one paragraph
    experiments: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PaperNumber:
    """A model's number in a paper's table, e.g. the AAE paper's Parzen estimate on MNIST."""

    model: str
    value: float
    error: float


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """A paper's number beside our runs of one experiment (mean over its seeds), and the target
    this project sets for a run of about an hour on 2 CPU cores."""

    table: str  # e.g. "Table 2"
    setting: str  # e.g. "100 labels"
    experiment: str
    paper: PaperNumber  # the paper's test error, %, and its ±
    target: float | None  # the most test error (%) a run here aims for; None: no target set
    baseline: str | None = None  # an experiment on the same labels without the unlabelled images


@dataclasses.dataclass(frozen=True)
class SampleQuality:
    """What the sample-quality report (`common.report.samples`) shows; both plans share it."""

    experiments: tuple[Experiment, ...]  # in the report's order
    over_epochs: tuple[tuple[str, str], ...]  # (question, experiment): samples over epochs
    pairs: tuple[Comparison, ...]  # compared at their last common sample epoch
    # Makhzani et al. 2015, Table 1: Parzen nats on MNIST, the paper's own model (the AAE) last:
    # the verdicts are against it.
    paper: tuple[PaperNumber, ...]
    beside_paper: tuple[str, ...]  # the experiments shown beside it
    report_file: str = "sample_quality.md"  # in the docs folder


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `reproduce` trains and `common.report.results` shows: one plan, one report."""

    experiments: tuple[Experiment, ...]  # in the report's order
    headlines: Mapping[str, Headline]  # by config.model
    comparisons: tuple[Comparison, ...] = ()
    sweeps: tuple[Sweep, ...] = ()  # trained with --sweeps
    # "module:function" run on the experiments that show "log_likelihood", resolved by name
    # (e.g. "vae.log_likelihood:evaluate_workdir"); None: never.
    log_likelihood: str | None = None
    galleries: tuple[Gallery, ...] = ()
    name: str = "assignment"  # scripts/reproduce.py --plan
    title: str = "Results: every experiment of the assignment"  # the report's heading
    report_file: str = "results.md"  # in the docs folder
    figures: str = "figures"  # under the docs folder; plans may share experiments, not this
    samples: SampleQuality | None = None  # written after the plan's report
    explore: tuple[Experiment, ...] = ()  # z 2 runs on the explorer page (DOCS/explorer/)
    # README's figure (DOCS/figures/overview.png): two experiments' samples, a z 2 one's plane.
    overview: tuple[str, str, str] | None = None
    paper_rows: tuple[PaperRow, ...] = ()  # a paper's table beside ours (common/report/paper.py)

    def select(self, names: Sequence[str] | None) -> list[Experiment]:
        """The experiments named (empty: all), in the plan's order; ConfigError for another."""
        known = [e.name for e in self.experiments]
        unknown = [n for n in names or () if n not in known]
        if unknown:
            raise ConfigError(
                f"unknown experiment {', '.join(map(repr, unknown))} in --only; known: "
                f"{', '.join(known)}"
            )
        return [e for e in self.experiments if not names or e.name in names]


# ----------------------------------------------------------------------------- where runs lie


def run_dir(root: str, name: str, seed: int | None = None) -> str:
    """ROOT/NAME, or ROOT/NAME-seedS for the experiment at another seed than its config's."""
    return os.path.join(root, name if seed is None else f"{name}{SEED_SUFFIX}{seed}")


def seed_dirs(root: str, name: str) -> list[str]:
    """The folders ROOT/NAME-seedS that exist, in no particular order."""
    return glob.glob(os.path.join(glob.escape(root), f"{glob.escape(name)}{SEED_SUFFIX}*"))


def full_scale_root(root: str) -> str:
    """ROOT/full_scale: the root of the runs on the full-scale data."""
    return os.path.join(root, FULL_SCALE_DIR)


def sweep_root(root: str, sweep: Sweep, variant: Variant) -> str:
    """ROOT/sweeps/SWEEP/VARIANT: the root of one variant's runs NAME-seedS."""
    return os.path.join(root, SWEEPS_DIR, sweep.name, variant.key)


def classifier_dir(root: str) -> str:
    """ROOT/classifiers: where reproduce caches the sample-quality classifiers."""
    return os.path.join(root, CLASSIFIERS_DIR)
