"""What `scripts/reproduce.py` trains and reports, and where each of its runs lies.

The schema: an `Experiment` (one config file, the questions it answers, what the report shows,
the course's `Reference` number), a `Sweep` of short runs over seeds and config `Variant`s, a
`Comparison` of two experiments' codes, and the `Headline` number of each model kind. A
`Plan` bundles them with the trainers (configs/experiments.py builds the assignment's), so
`common.experiments.reproduce` and `common.report.results` take one object.

Where runs lie, under a root folder (`--root`):

    ROOT/NAME                       the experiment NAME
    ROOT/NAME-seedS                 the same at config.seed = S (the seed spread)
    ROOT/full_scale/NAME            the same on the full-scale data
    ROOT/sweeps/SWEEP/VARIANT/NAME-seedS   one run of a sweep
    ROOT/classifiers                the sample-quality classifiers (common.evaluation.classifier's
    cache)
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

    metric: str  # the metrics.jsonl key the number is about (last epoch)
    value: float
    below: bool  # True: the number should be below `value`; False: about `value`
    text: str


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
    """Short runs of experiments over seeds and config variants (`scripts/reproduce.py --sweeps`).

    The report says, for each experiment and variant, at how many seeds the model learnt: its
    validation number fell by more than 1% from epoch 1 to the last (report.learnt).
    """

    name: str  # folder under ROOT/sweeps
    title: str
    experiments: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    variants: tuple[Variant, ...]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment of the assignment (configs/experiments.py lists them).

    Attributes:
      name: the workdir's name under the root, and the name --only takes.
      get_config: the config file's `get_config`.
      questions: the assignment's questions it answers, e.g. "Q1.7, Q1.8".
      title: a short description for the report.
      show: what the report shows besides the numbers: any of "bpd_curve", "loss_curve",
        "samples" (grids at the assignment's epochs), "reconstructions" (at the same epochs),
        "last_reconstructions" (the last epoch's only), "manifold", "latent_scatter",
        "interpolation", "log_likelihood" (also: `common.experiments.reproduce` computes it for the
        run).
      reference: the course's number for this experiment, or None.
      spread: also trained at other seeds (--seeds) and on the full-scale data without a
        course reference (those with one always are); see `headline`.
    """

    name: str
    get_config: Callable[[], Any]
    questions: str
    title: str
    show: tuple[str, ...]
    reference: Reference | None = None
    spread: bool = False

    @property
    def headline(self) -> bool:
        """Whether --seeds and --full_scale_data train it too: it has a course reference, or
        its numbers are the plan's headline (`spread`)."""
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


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Experiments whose latent scatters the report shows side by side, with their codes'
    numbers against each one's own prior (e.g. the AAE paper's Figures 2 and 4)."""

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
class SampleQuality:
    """What the sample-quality report (`common.report.samples`) shows, of every experiment whose
    runs lie under the root (both plans share it).

    Attributes:
      experiments: in the report's order.
      over_epochs: (question, experiment): how its samples change over its sample epochs.
      pairs: two experiments' samples compared at their last common sample epoch.
      paper: the paper's table (Makhzani et al. 2015, Table 1: Parzen nats on MNIST).
      beside_paper: the experiments shown beside it.
      report_file: the report's file name in the docs folder.
    """

    experiments: tuple[Experiment, ...]
    over_epochs: tuple[tuple[str, str], ...]
    pairs: tuple[Comparison, ...]
    paper: tuple[PaperNumber, ...]
    beside_paper: tuple[str, ...]
    report_file: str = "sample_quality.md"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything `common.experiments.reproduce` trains and `common.report.results` shows: one plan,
    one report.

    Attributes:
      experiments: in the report's order.
      headlines: {config.model: its Headline}.
      comparisons: pairs of experiments whose codes the report compares.
      sweeps: short runs over seeds and variants (trained with --sweeps).
      log_likelihood: "module:function" of the evaluation run on the experiments that show
        "log_likelihood" (vae.log_likelihood:evaluate_workdir), resolved by name; None: never.
      galleries: scatters side by side with their numbers.
      name: the plan's name (`scripts/reproduce.py --plan`).
      title: the report's heading.
      report_file: the report's file name in the docs folder.
      figures: the folder, under the docs folder, its figures are copied to (one per
        experiment; two plans may share experiments, not this folder).
      samples: the sample-quality report, written after the plan's; None: none.
      explore: experiments whose z 2 runs the latent plane explorer shows side by side
        (common.report.explorer; DOCS/explorer/), each plan's report linking it.
    """

    experiments: tuple[Experiment, ...]
    headlines: Mapping[str, Headline]
    comparisons: tuple[Comparison, ...] = ()
    sweeps: tuple[Sweep, ...] = ()
    log_likelihood: str | None = None
    galleries: tuple[Gallery, ...] = ()
    name: str = "assignment"
    title: str = "Results: every experiment of the assignment"
    report_file: str = "results.md"
    figures: str = "figures"
    samples: SampleQuality | None = None
    explore: tuple[Experiment, ...] = ()

    def select(self, names: Sequence[str] | None) -> list[Experiment]:
        """The experiments named (all when `names` is empty), in the plan's order.

        Raises:
          ConfigError: a name is not an experiment's (the message lists the known ones).
        """
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
