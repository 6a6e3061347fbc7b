"""Every experiment of the assignment, each from its config file, and the report of their results.

`main` trains each experiment it is given (configs/experiments.py lists the assignment's) into
ROOT/NAME with the trainer of its config's model kind, in this process, then writes
DOCS/results.md (`common.report`). The
trainers resume from a workdir's latest checkpoint, so running the same command again continues
where it stopped, and experiments already finished are skipped. `epoch_scale` shortens every
schedule (epochs, sample and checkpoint epochs) for a quick look.

Each workdir also gets `reproduce.json`: one record per session (epoch scale, config overrides,
data, machine, the epochs trained and the wall time), which the report cites.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ml_collections
from absl import logging

from common import report
from common.errors import ConfigError, WorkdirBusy
from common.report import Experiment


def select(names: Sequence[str] | None, experiments: Sequence[Experiment]) -> list[Experiment]:
    """The experiments named (all when `names` is empty), in the order of `experiments`.

    Raises:
      ConfigError: a name is not an experiment's (the message lists the known ones).
    """
    known = [e.name for e in experiments]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise ConfigError(
            f"unknown experiment {', '.join(map(repr, unknown))} in --only; known: "
            f"{', '.join(known)}"
        )
    return [e for e in experiments if not names or e.name in names]


# ----------------------------------------------------------------------------- configs


def scale_epoch(epoch: int, scale: float) -> int:
    """Epoch 0 (the untrained model) stays 0; any other becomes ceil(epoch * scale), >= 1."""
    if epoch == 0:
        return 0
    return max(1, math.ceil(round(epoch * scale, 6)))  # round: 100 * 0.07 is 7, not 8


def scale_schedule(epochs: Sequence[int], num_epochs: int, scale: float) -> list[tuple[int, int]]:
    """[(epoch of the config, epoch of the scaled run)] for the epochs a run reaches.

    Epochs past `num_epochs` are dropped (never reached); the last epoch of the scaled run is
    always included, so its grid and checkpoint exist however far the schedule shrinks.
    """
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
    """The experiment's config with the epochs scaled and the data (and the seed) chosen.

    Args:
      experiment: its `get_config()` gives the config.
      epoch_scale: factor on num_epochs (rounded up, at least 1), sample and checkpoint epochs.
      data_dir: folder of IDX files; None keeps the config's source (tfds).
      limit: train on N images (the first of the seeded split); None keeps the config's.
      seed: config.seed; None keeps the config's.
      overrides: {dotted field: value} set last (a sweep's variant).

    Returns:
      (config, {"overrides": {dotted field: new value} for each field that differs from the
      config file, "sample_epochs": [(config epoch, run epoch)], "config_num_epochs": the
      config file's num_epochs}).
    """
    if not epoch_scale > 0:
        raise ConfigError(f"epoch_scale={epoch_scale} must be > 0")
    config = experiment.get_config()
    num_epochs = config.num_epochs
    samples = scale_schedule(config.sample_epochs, num_epochs, epoch_scale)
    milestones = scale_schedule(config.checkpoint_epochs, num_epochs, epoch_scale)
    new = {
        "num_epochs": scale_epoch(num_epochs, epoch_scale) if num_epochs else 0,
        "sample_epochs": tuple(sorted({e for _, e in samples})),
        "checkpoint_epochs": tuple(sorted({e for _, e in milestones})),
        "data.dir": config.data.dir if data_dir is None else data_dir,
        "data.limit": config.data.limit if limit is None else limit,
        "seed": config.seed if seed is None else seed,
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


def machine_info() -> dict[str, Any]:
    """CPU model and usable cores, jax backend, device kind and count, jax version."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    devices = jax.devices()
    return {
        "cpu": cpu,
        "cores": cores,
        "system": platform.system(),
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "num_devices": len(devices),
        "jax_version": jax.__version__,
    }


@functools.cache
def describe_data(name: str, data_dir: str, split_seed: int, limit: int) -> tuple[str, bool]:
    """(the data's one-line description, whether it has a test set), paths made displayable."""
    from common import input_pipeline

    data = input_pipeline.load_dataset(
        ml_collections.ConfigDict(dict(name=name, dir=data_dir, split_seed=split_seed, limit=limit))
    )
    text = data.describe()
    if data_dir:
        text = text.replace(data_dir, report.display_path(os.path.abspath(data_dir)))
    if data.test_images is None:
        text += " (the validation split is all there is to test on)"
    return text, data.test_images is not None


def _read_record(workdir: str) -> dict[str, Any]:
    path = os.path.join(workdir, report.RECORD_FILE)
    if not os.path.exists(path):
        return {"sessions": []}
    with open(path) as f:
        return json.load(f)


def _write_record(workdir: str, record: dict[str, Any]) -> None:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, report.RECORD_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)


def _last_epoch(workdir: str) -> int | None:
    run = report.load_run(workdir)
    return None if run is None else run.last_epoch


def is_complete(workdir: str, config: ml_collections.ConfigDict) -> bool:
    """Whether `workdir` holds a finished run of exactly this config."""
    run = report.load_run(workdir)
    if run is None or run.final is None or run.last_epoch != config.num_epochs:
        return False
    return run.config == json.loads(config.to_json_best_effort())


# ----------------------------------------------------------------------------- running


def run_experiment(
    experiment: Experiment,
    root: str,
    trainers: Mapping[str, type],
    *,
    epoch_scale: float = 1.0,
    data_dir: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    command: str = "",
) -> dict[str, Any] | None:
    """Trains one experiment into ROOT/NAME (resuming); returns its final row, None if skipped.

    Args:
      trainers: {config.model: trainer class} (common.trainer.Trainer subclasses).
      seed: another seed than the config's: the workdir is ROOT/NAME-seedSEED.
      overrides: {dotted field: value} set on the config last.
    """
    config, schedule = make_config(
        experiment,
        epoch_scale=epoch_scale,
        data_dir=data_dir,
        limit=limit,
        seed=seed,
        overrides=overrides,
    )
    name = experiment.name if seed is None else f"{experiment.name}{report.SEED_SUFFIX}{seed}"
    workdir = os.path.abspath(os.path.join(root, name))
    if is_complete(workdir, config):
        logging.info("%s: complete (%d epochs); skipped.", name, config.num_epochs)
        return None
    data, has_test = describe_data(
        config.data.name, config.data.dir, config.data.split_seed, config.data.limit
    )
    record = _read_record(workdir)
    session = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "epoch_scale": epoch_scale,
        **schedule,
        "data": data,
        "has_test_set": has_test,
        "machine": machine_info(),
        "from_epoch": _last_epoch(workdir),
        "status": "running",
    }
    record["sessions"].append(session)
    _write_record(workdir, record)

    start = time.perf_counter()
    final = None
    try:
        final = trainers[config.model](config).train_and_evaluate(workdir)
        session["status"] = "finished"
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
            os.remove(os.path.join(workdir, report.RECORD_FILE))
            if not os.listdir(workdir):
                os.rmdir(workdir)
    return final


def evaluate_log_likelihood(
    workdir: str, num_images: int, has_test_set: bool, evaluate_workdir: Callable[..., Any]
) -> dict[str, Any] | None:
    """Runs `evaluate_workdir` (vae.evaluate's: IW log-likelihood, proposal plot) unless done.

    Skipped when log_likelihood.json is newer than the run's metrics and was computed on as many
    images.
    """
    result_path = os.path.join(workdir, "log_likelihood.json")
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    record = _read_record(workdir)
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


def main(
    root: str,
    docs_dir: str,
    experiments: Sequence[Experiment],
    trainers: Mapping[str, type],
    *,
    epoch_scale: float = 1.0,
    data_dir: str | None = None,
    limit: int | None = None,
    only: Sequence[str] | None = None,
    report_only: bool = False,
    iw_images: int = 0,
    log_likelihood: Callable[..., Any] | None = None,
    seeds: Sequence[int] = (),
    full_scale_data: str | None = None,
    comparisons: Sequence[report.Comparison] = (),
    sweeps: Sequence[report.Sweep] = (),
    run_sweeps: bool = False,
) -> str:
    """Trains the experiments named in `only` (all by default), then writes the report.

    Args:
      root: folder of the workdirs, ROOT/NAME for each experiment.
      docs_dir: where results.md and figures/ go.
      experiments: the experiments to choose from (configs/experiments.py: EXPERIMENTS).
      trainers: {config.model: trainer class} (configs/experiments.py: TRAINERS).
      epoch_scale, data_dir, limit: see make_config.
      only: experiment names; None or empty: all.
      report_only: train nothing, only write the report from the workdirs.
      iw_images: images for the importance-weighted log-likelihood; 0 skips it.
      log_likelihood: vae.evaluate.evaluate_workdir, run on the experiments that show
        "log_likelihood"; None skips it.
      seeds: the headline experiments (those with a course reference) are also trained at
        these seeds (other than their config's), into ROOT/NAME-seedS.
      full_scale_data: an IDX folder with train and test files: the headline experiments are
        also trained on it, with its test set, into ROOT/full_scale/NAME.
      comparisons: pairs of experiments whose codes the report compares.
      sweeps: short runs of experiments over seeds and config variants, in
        ROOT/sweeps/SWEEP/VARIANT/NAME-seedS; the report shows those that exist.
      run_sweeps: train the sweeps' runs of the selected experiments.

    Returns:
      The path of the report (DOCS/results.md). It covers every workdir under `root`, whichever
      were trained now.
    """
    selected = select(only, experiments)
    if not 0 < epoch_scale < math.inf:
        raise ConfigError(f"--epoch_scale={epoch_scale} must be a number > 0")
    for flag, path in (("--root", root), ("--docs", docs_dir)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise ConfigError(f"{flag}={path} is a file, not a folder")
    if limit is not None and limit < 0:
        raise ConfigError(f"--limit={limit} must be >= 0 (0 = all)")
    headline_experiments = [e for e in selected if e.reference is not None]
    if not report_only:
        flags = [f"--root={report.display_path(os.path.abspath(root))}"]
        if data_dir:
            flags.append(f"--data_dir={report.display_path(os.path.abspath(data_dir))}")
        flags.append(f"--epoch_scale={epoch_scale}")
        if limit is not None:
            flags.append(f"--limit={limit}")
        if seeds:
            flags.append(f"--seeds={','.join(map(str, seeds))}")
        if full_scale_data:
            flags.append(
                f"--full_scale_data={report.display_path(os.path.abspath(full_scale_data))}"
            )
        if run_sweeps:
            flags.append("--sweeps")
        command = " ".join(["python scripts/reproduce.py", *flags])
        refused: list[str] = []
        # Every run, in order: (experiment, root, {run_experiment's keyword arguments}).
        base = dict(epoch_scale=epoch_scale, data_dir=data_dir, limit=limit)
        runs = [(e, root, base) for e in selected]
        for exp in headline_experiments:
            default_seed = exp.get_config().seed
            runs += [(exp, root, base | {"seed": s}) for s in seeds if s != default_seed]
        if full_scale_data:
            full = base | {"data_dir": full_scale_data, "limit": 0}
            runs += [
                (e, os.path.join(root, report.FULL_SCALE_DIR), full) for e in headline_experiments
            ]
        names = {e.name for e in selected}
        for sweep in sweeps if run_sweeps else ():
            for variant in sweep.variants:
                sweep_root = report.sweep_root(root, sweep, variant)
                for exp in (e for e in experiments if e.name in sweep.experiments):
                    if exp.name not in names:
                        continue
                    scale = sweep.epochs / exp.get_config().num_epochs
                    kwargs = base | {"epoch_scale": scale, "overrides": dict(variant.overrides)}
                    runs += [(exp, sweep_root, kwargs | {"seed": s}) for s in sweep.seeds]
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
                run_experiment(exp, run_root, trainers, command=command, **kwargs)
            except (ConfigError, WorkdirBusy) as e:  # refused: the others still run
                logging.error("%s refused: %s", exp.name, e)
                refused.append(f"{exp.name} in {report.display_path(run_root)}")
        if iw_images > 0 and log_likelihood is not None:
            roots = [root] + [os.path.join(root, report.FULL_SCALE_DIR)] * bool(full_scale_data)
            for exp in selected:
                if "log_likelihood" not in exp.show:
                    continue
                for run_root in roots:
                    workdir = os.path.abspath(os.path.join(run_root, exp.name))
                    run = report.load_run(workdir)
                    if run is None:
                        continue
                    has_test = run.latest.get("has_test_set", True)
                    try:
                        evaluate_log_likelihood(workdir, iw_images, has_test, log_likelihood)
                    except Exception as e:  # optional: the report must still be written
                        logging.error("%s: log-likelihood evaluation failed: %s", workdir, e)
    headlines = {kind: trainer.headline for kind, trainer in trainers.items()}
    path = report.write_report(root, docs_dir, experiments, headlines, comparisons, sweeps)
    logging.info("Wrote %s.", path)
    if not report_only and refused:
        raise ConfigError(
            f"{len(refused)} run(s) refused their workdir ({'; '.join(refused)}): the log says "
            f"why; the report ({path}) covers the others. Move those workdirs away, or use "
            "another --root, to train them again"
        )
    return path
