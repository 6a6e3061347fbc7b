"""Every experiment of a `plans.Plan` (configs/experiments.py builds the assignment's), trained
from its config file in this process, and the reports of their results.

`main` trains the runs `Options` ask for, scores their samples, writes the explorer page, the
plan's report (DOCS/results.md or priors.md) and DOCS/sample_quality.md. Running the same command
again resumes unfinished runs and skips finished ones; `epoch_scale` shortens every schedule for
a quick look. Each workdir gets its session record (run_files.RECORD: epoch scale, overrides,
data, machine, epochs trained, wall time), which the report cites.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import ml_collections
from absl import logging

from common import files
from common.errors import ConfigError, UserError, WorkdirBusy
from common.evaluation import sample_quality
from common.experiments import plans
from common.experiments.plans import Experiment, Plan
from common.report import explorer, markdown, overview, results, runs, samples
from common.train import checkpoint, helpers, kinds, run_files
from common.train import workdir as workdir_lib

# ----------------------------------------------------------------------------- configs


def scale_epoch(epoch: int, scale: float) -> int:
    """Epoch 0 (the untrained model) stays 0; any other becomes ceil(epoch * scale), >= 1."""
    if epoch == 0:
        return 0
    return max(1, math.ceil(round(epoch * scale, 6)))  # round: 100 * 0.07 is 7, not 8


def scale_schedule(epochs: Sequence[int], num_epochs: int, scale: float) -> list[tuple[int, int]]:
    """[(config epoch, scaled run's epoch)] of `epochs` up to `num_epochs`, plus the scaled
    run's last, so its grid and checkpoint exist however far the schedule shrinks."""
    last = scale_epoch(num_epochs, scale)
    pairs = [(e, min(scale_epoch(e, scale), last)) for e in epochs if e <= num_epochs]
    if all(run_epoch != last for _, run_epoch in pairs):
        pairs.append((num_epochs, last))
    return sorted(pairs)


def make_config(
    experiment: Experiment,
    *,
    epoch_scale: float = 1.0,
    data_dir: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """The experiment's config, its epochs (and sample and checkpoint epochs, and the steps of
    its optimizers' decay_steps) times `epoch_scale`; `data_dir`, `limit`, `seed` replace the
    config's unless None; `overrides` ({dotted field: value}, a sweep's variant) are set last.
    ConfigError: epoch_scale <= 0.

    Returns:
      (config, {"overrides": {field: value} of each field that differs from the file,
      "sample_epochs": [(config epoch, run epoch)], "config_num_epochs": the file's}).
    """
    if not epoch_scale > 0:
        raise ConfigError(f"epoch_scale={epoch_scale} must be > 0")
    config = experiment.get_config()
    num_epochs = config.num_epochs
    samples = scale_schedule(config.sample_epochs, num_epochs, epoch_scale)
    milestones = scale_schedule(config.checkpoint_epochs, num_epochs, epoch_scale)
    run_epochs = scale_epoch(num_epochs, epoch_scale) if num_epochs else 0
    new = {
        "num_epochs": run_epochs,
        "sample_epochs": tuple(sorted({e for _, e in samples})),
        "checkpoint_epochs": tuple(sorted({e for _, e in milestones})),
        "data.dir": config.data.dir if data_dir is None else data_dir,
        "data.limit": config.data.limit if limit is None else limit,
        "seed": config.seed if seed is None else seed,
        # A learning-rate drop given in steps (the semi-supervised AAE's) stays at its share of
        # the run's epochs (rounded up above); a warm-up, also in steps, is about the first
        # updates alone and stays.
        **{
            f"optimizers.{name}.decay_steps": tuple(
                max(1, round(step * run_epochs / num_epochs)) for step in opt.decay_steps
            )
            for name, opt in config.get("optimizers", {}).items()
            if opt.get("decay_steps") and num_epochs
        },
        **(overrides or {}),
    }
    overrides = {}
    for field, value in new.items():
        *parents, leaf = field.split(".")
        node = functools.reduce(lambda c, p: c[p], parents, config)
        if node[leaf] != value:
            overrides[field] = list(value) if isinstance(value, tuple) else value
            node[leaf] = value
    return config, {
        "overrides": overrides,
        "sample_epochs": samples,
        "config_num_epochs": num_epochs,
    }


# ----------------------------------------------------------------------------- records


@functools.cache
def describe_data(
    name: str, data_dir: str, split_seed: int, limit: int
) -> tuple[str, bool, str | None]:
    """(the data's one-line description, whether it has a test set, the official data set its
    files are: input_pipeline.Dataset.official), paths made displayable."""
    from common import input_pipeline

    data = input_pipeline.load_dataset(
        ml_collections.ConfigDict(dict(name=name, dir=data_dir, split_seed=split_seed, limit=limit))
    )
    text = data.describe()
    if data_dir:
        text = text.replace(data_dir, markdown.display_path(os.path.abspath(data_dir)))
    if data.test_images is None:
        text += " (the validation split is all there is to test on)"
    return text, data.test_images is not None, data.official


def _write_record(workdir: str, record: dict[str, Any]) -> None:
    files.write_json(os.path.join(workdir, run_files.RECORD), record)


def _last_epoch(workdir: str) -> int | None:
    run = runs.load_run(workdir)
    return None if run is None else run.last_epoch


def is_complete(workdir: str, config: ml_collections.ConfigDict) -> bool:
    """Whether `workdir` holds a finished run of exactly this config."""
    run = runs.load_run(workdir)
    if run is None or run.final is None or run.last_epoch != config.num_epochs:
        return False
    return run.config == json.loads(config.to_json_best_effort())


# ----------------------------------------------------------------------------- running


def run_experiment(
    experiment: Experiment,
    root: str,
    *,
    epoch_scale: float = 1.0,
    data_dir: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    command: str = "",
) -> dict[str, Any] | None:
    """Trains one experiment (make_config's arguments) into ROOT/NAME, or ROOT/NAME-seedSEED
    with a seed, resuming; its final row, or None when already complete."""
    config, schedule = make_config(
        experiment,
        epoch_scale=epoch_scale,
        data_dir=data_dir,
        limit=limit,
        seed=seed,
        overrides=overrides,
    )
    workdir = os.path.abspath(plans.run_dir(root, experiment.name, seed))
    name = os.path.basename(workdir)
    if is_complete(workdir, config):
        logging.info("%s: complete (%d epochs); skipped.", name, config.num_epochs)
        return None
    data, has_test, official = describe_data(
        config.data.name, config.data.dir, config.data.split_seed, config.data.limit
    )
    record = runs.read_record(workdir)
    session = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "epoch_scale": epoch_scale,
        **schedule,
        "data": data,
        "has_test_set": has_test,
        "official_data": official,
        "machine": helpers.machine_info(),
        "from_epoch": _last_epoch(workdir),
        "status": "running",
    }
    record["sessions"].append(session)
    with workdir_lib.out_of_space_is_one_line(workdir):  # also when the record no longer fits
        _write_record(workdir, record)
        return _train(kinds.trainer_class(config.model)(config), workdir, record, session)


def _train(trainer, workdir: str, record: dict[str, Any], session: dict[str, Any]):
    """Trains in `workdir`, keeping `session` of `record` up to date however it ends."""
    start = time.perf_counter()
    try:
        final = trainer.train_and_evaluate(workdir)
        session["status"] = "finished"
        session["breakdown"] = {
            k.removeprefix("seconds_"): v for k, v in final.items() if k.startswith("seconds_")
        }
    except (ConfigError, WorkdirBusy):  # refused (another run's workdir): it trained nothing
        record["sessions"].remove(session)
        raise
    except BaseException as e:  # interrupted or failed: the record says so, then re-raise
        session["status"] = f"stopped: {type(e).__name__}"
        raise
    finally:
        session["wall_s"] = round(time.perf_counter() - start, 1)
        session["to_epoch"] = _last_epoch(workdir)
        if record["sessions"]:
            _write_record(workdir, record)
        else:  # a refused first session leaves nothing behind
            os.remove(os.path.join(workdir, run_files.RECORD))
            if not os.listdir(workdir):
                os.rmdir(workdir)
    return final


def evaluate_log_likelihood(
    workdir: str, num_images: int, has_test_set: bool, evaluate_workdir: Callable[..., Any]
) -> dict[str, Any] | None:
    """Runs `evaluate_workdir` (vae.log_likelihood's) unless its result is newer than the run's
    metrics and of as many images; None when skipped."""
    result_path = os.path.join(workdir, run_files.LOG_LIKELIHOOD)
    metrics_path = os.path.join(workdir, run_files.METRICS)
    record = runs.read_record(workdir)
    if (
        os.path.exists(result_path)
        and os.path.getmtime(result_path) >= os.path.getmtime(metrics_path)
        and record.get("iw_images") == num_images
    ):
        logging.info("%s: log-likelihood already computed; skipped.", workdir)
        return None
    logging.info("%s: importance-weighted log-likelihood on %d images ...", workdir, num_images)
    start = time.perf_counter()
    result = evaluate_workdir(
        workdir, num_images=num_images, split="test" if has_test_set else "val"
    )
    record["iw_images"] = num_images
    record["iw_wall_s"] = round(time.perf_counter() - start, 1)
    _write_record(workdir, record)
    return result


@dataclasses.dataclass(frozen=True)
class Options:
    """What scripts/reproduce.py's flags ask for (its --help says what each does); epoch_scale,
    data_dir and limit as in make_config; `only` empty: every experiment."""

    root: str
    docs_dir: str
    epoch_scale: float = 1.0
    data_dir: str | None = None
    limit: int | None = None
    only: Sequence[str] = ()
    report_only: bool = False
    num_images: int = 0
    seeds: Sequence[int] = ()
    full_scale_data: str | None = None
    run_sweeps: bool = False
    num_samples: int = 0

    def check(self) -> None:
        """Raises ConfigError for values no run can use, before anything is written."""
        if not 0 < self.epoch_scale < math.inf:
            raise ConfigError(f"--epoch_scale={self.epoch_scale} must be a number > 0")
        for flag, path in (("--root", self.root), ("--docs", self.docs_dir)):
            if os.path.exists(path) and not os.path.isdir(path):
                raise ConfigError(f"{flag}={path} is a file, not a folder")
        if self.limit is not None and self.limit < 0:
            raise ConfigError(f"--limit={self.limit} must be >= 0 (0 = all)")
        if self.num_samples == 1 or self.num_samples < 0:
            raise ConfigError(f"--num_samples={self.num_samples} must be 0 or >= 2")

    def command(self, plan: str = "assignment") -> str:
        """The command line of these options and `plan`, as the report cites it."""
        flags = [] if plan == "assignment" else [f"--plan={plan}"]
        flags.append(f"--root={markdown.display_path(os.path.abspath(self.root))}")
        if self.data_dir:
            flags.append(f"--data_dir={markdown.display_path(os.path.abspath(self.data_dir))}")
        flags.append(f"--epoch_scale={self.epoch_scale}")
        if self.limit is not None:
            flags.append(f"--limit={self.limit}")
        if self.seeds:
            flags.append(f"--seeds={','.join(map(str, self.seeds))}")
        if self.full_scale_data:
            path = markdown.display_path(os.path.abspath(self.full_scale_data))
            flags.append(f"--full_scale_data={path}")
        if self.run_sweeps:
            flags.append("--sweeps")
        return " ".join(["python scripts/reproduce.py", *flags])


class PlannedRun(NamedTuple):
    """One run `main` trains: run_experiment(experiment, root, **kwargs)."""

    experiment: Experiment
    root: str  # the folder its workdir lies in (common.experiments.plans)
    kwargs: dict[str, Any]  # epoch_scale, data_dir, limit, seed, overrides


def planned_runs(plan: Plan, selected: Sequence[Experiment], options: Options) -> list[PlannedRun]:
    """Every run to train, in order: the selected experiments; the headline ones at the other
    seeds and on the full-scale data; `plan`'s sweeps of the selected ones."""
    root = options.root
    base = dict(epoch_scale=options.epoch_scale, data_dir=options.data_dir, limit=options.limit)
    runs = [PlannedRun(e, root, base) for e in selected]
    headline = [e for e in selected if e.headline]
    for exp in headline:
        default_seed = exp.get_config().seed
        runs += [
            PlannedRun(exp, root, base | {"seed": s}) for s in options.seeds if s != default_seed
        ]
    if options.full_scale_data:
        full = base | {"data_dir": options.full_scale_data, "limit": 0}
        runs += [PlannedRun(e, plans.full_scale_root(root), full) for e in headline]
    for sweep in plan.sweeps if options.run_sweeps else ():
        for variant in sweep.variants:
            for exp in (e for e in selected if e.name in sweep.experiments):
                scale = sweep.epochs / exp.get_config().num_epochs
                kwargs = base | {"epoch_scale": scale, "overrides": dict(variant.overrides)}
                sweep_root = plans.sweep_root(root, sweep, variant)
                runs += [PlannedRun(exp, sweep_root, kwargs | {"seed": s}) for s in sweep.seeds]
    return runs


def main(plan: Plan, options: Options) -> str:
    """Trains `planned_runs`, then writes the reports: the path of DOCS/plan.report_file, which
    covers every workdir of the plan under the root. ConfigError: bad options, or runs that
    refused their workdir (after the others ran and the report was written)."""
    selected = plan.select(options.only)
    options.check()
    if options.report_only and not any(
        workdir_lib.has_run(plans.run_dir(options.root, e.name)) for e in plan.experiments
    ):  # the report of nothing would replace the one in --docs, and its figures
        raise ConfigError(
            f"--root={options.root} holds no run of the {plan.name} plan (a folder per "
            f"experiment, e.g. ROOT/{plan.experiments[0].name}): nothing written"
        )
    refused: list[str] = []
    if not options.report_only:
        command = options.command(plan.name)
        runs = planned_runs(plan, selected, options)
        for i, (exp, run_root, kwargs) in enumerate(runs, 1):
            seed = kwargs.get("seed")
            logging.info(
                "[%d/%d] %s (%s)%s: %s -> %s",
                i,
                len(runs),
                exp.name,
                exp.questions,
                f", seed {seed}" if seed is not None else "",
                exp.config_file,
                run_root,
            )
            try:
                run_experiment(exp, run_root, command=command, **kwargs)
            except (ConfigError, WorkdirBusy) as e:  # refused: the others still run
                logging.error("%s refused: %s", exp.name, e)
                refused.append(f"{exp.name} in {markdown.display_path(run_root)}")
        if options.num_images > 0 and plan.log_likelihood is not None:
            log_likelihoods(kinds.resolve(plan.log_likelihood), selected, options)
        if options.num_samples > 0 and plan.samples is not None:
            sample_qualities(plan, selected, options)
    if plan.explore:
        explorer_page(plan, options)
    if plan.overview:
        first, second, z2 = plan.overview
        path = os.path.join(options.docs_dir, "figures", overview.FILE)
        if overview.write((first, second), z2, lambda n: plans.run_dir(options.root, n), path):
            logging.info("Wrote %s.", path)
    path = results.write_report(plan, options.root, options.docs_dir)
    logging.info("Wrote %s.", path)
    if plan.samples is not None:
        samples_path = samples.write_sample_report(plan.samples, options.root, options.docs_dir)
        if samples_path:
            logging.info("Wrote %s.", samples_path)
    if refused:
        raise ConfigError(
            f"{len(refused)} run(s) refused their workdir ({'; '.join(refused)}): the log says "
            f"why; the report ({path}) covers the others. Move those workdirs away, or use "
            "another --root, to train them again"
        )
    return path


def explorer_page(plan: Plan, options: Options) -> str | None:
    """The latent plane explorer of the trained `plan.explore` experiments into DOCS/explorer/
    (replaced): its index.html, or None when none is trained."""
    workdirs = [(e, plans.run_dir(options.root, e.name)) for e in plan.explore]
    workdirs = [(e, w) for e, w in workdirs if workdir_lib.has_run(w)]
    if not workdirs:
        return None
    models = [
        explorer.load(w, name=e.name, title=f"{e.name}: {e.title} ({e.questions})")
        for e, w in workdirs
    ]
    out = os.path.join(options.docs_dir, plans.EXPLORER_DIR)
    shutil.rmtree(out, ignore_errors=True)  # no sprite of a model no longer shown stays behind
    path = explorer.write_page(models, out)
    logging.info("Wrote %s (%d models).", path, len(models))
    return path


def sample_qualities(plan: Plan, selected: Sequence[Experiment], options: Options) -> None:
    """Sample quality of the selected runs (and the headline ones' full-scale runs) at each
    checkpointed sample epoch not yet scored with as many samples; failures are logged only, so
    the reports still get written."""
    roots = [(options.root, selected)]
    if options.full_scale_data:
        roots.append((plans.full_scale_root(options.root), [e for e in selected if e.headline]))
    cache = plans.classifier_dir(options.root)
    for run_root, experiments in roots:
        for exp in experiments:
            workdir = os.path.abspath(plans.run_dir(run_root, exp.name))
            if not workdir_lib.has_run(workdir):
                continue
            config = workdir_lib.load_config(workdir)
            done = sample_quality.read_results(workdir)
            for epoch in sorted(set(config.sample_epochs) & set(checkpoint.epochs(workdir))):
                if done.get(str(epoch), {}).get("num_samples") == options.num_samples:
                    continue
                logging.info("%s: sample quality at epoch %d ...", workdir, epoch)
                try:
                    result = sample_quality.evaluate_workdir(
                        workdir,
                        epoch=epoch,
                        num_samples=options.num_samples,
                        classifier_dir=cache,
                    )
                except UserError as e:
                    logging.error("%s: no sample quality at epoch %d: %s", workdir, epoch, e)
                    break
                logging.info("\n%s", sample_quality.format_table(result))


def log_likelihoods(
    evaluate_workdir: Callable[..., Any], selected: Sequence[Experiment], options: Options
) -> None:
    """The IW log-likelihood of the selected experiments that show it, at the root and on the
    full-scale data; failures are logged only, so the report still gets written."""
    roots = [options.root]
    if options.full_scale_data:
        roots.append(plans.full_scale_root(options.root))
    for exp in selected:
        if "log_likelihood" not in exp.show:
            continue
        for run_root in roots:
            workdir = os.path.abspath(plans.run_dir(run_root, exp.name))
            run = runs.load_run(workdir)
            if run is None:
                continue
            has_test = run.latest.get("has_test_set", True)
            try:
                evaluate_log_likelihood(workdir, options.num_images, has_test, evaluate_workdir)
            except Exception as e:  # optional: the report must still be written
                logging.error("%s: log-likelihood evaluation failed: %s", workdir, e)
