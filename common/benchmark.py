"""Timing of compiled training steps and epochs, in the PyTorch reference's JSON format.

Each case is compiled once and then timed in rounds, so that several cases, and the PyTorch
reference run as a subprocess, can be interleaved in one run on the same machine (machines are
noisy: compare medians of interleaved rounds, not single runs). A row looks like
`torch_reference.py speed`'s: {"impl": "jax", "model": "vae", "case": "step", "batch": 128,
"step_ms": ..., "step_ms_median": ..., "images_per_sec": ..., "steps": 20, "device": "cpu"}.

The cases run exactly what training runs: the model and optimizers of configs/{vae,aae}.py, the
parameters replicated and the batch split over all local devices (common.parallel), and for
"epoch" the compiled `lax.scan` of common.epochs.setup.
"""

from __future__ import annotations

import functools
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np

from common import epochs, input_pipeline, parallel

DEFAULT_BATCH = {"vae": 128, "aae": 64}
TRANSFORMS = {"vae": input_pipeline.quantize_4bit, "aae": input_pipeline.to_tanh_range}


def _config_and_step(model: str, batch: int, conv_impl: str):
    module = importlib.import_module(f"{model}.train")
    config = importlib.import_module(f"configs.{model}").get_config()
    config.batch_size = batch
    config.conv_impl = conv_impl
    if model == "vae":
        return config, module, module.train_step
    step = functools.partial(
        module.train_step,
        model=module.make_model(config),
        txs=module.make_optimizers(config),
        lambda_=config.lambda_,
        scheme=config.update_scheme,
    )
    return config, module, step


def _random_images(num: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (num, 28, 28, 1), dtype=np.uint8)


class Case:
    """One compiled case; `time(repeats)` returns seconds per training step, one per call.

    Attributes:
      model: "vae" or "aae".
      name: "step" (one jitted train step) or "epoch" (the compiled scan of `steps_per_call`).
      batch: images per step.
      conv_impl: the models' convolution form ("auto", "cpu" or "xla"; common.nets.Conv).
    """

    def __init__(
        self,
        model: str,
        name: str,
        batch: int | None = None,
        epoch_steps: int = 20,
        conv_impl: str = "auto",
    ):
        self.model, self.name, self.conv_impl = model, name, conv_impl
        self.batch = batch or DEFAULT_BATCH[model]
        config, module, step = _config_and_step(model, self.batch, conv_impl)
        mesh = parallel.make_mesh()
        parallel.check_batch_size(self.batch, mesh)
        state = parallel.replicate(module.create_train_state(config, jax.random.key(0)), mesh)
        if name == "step":
            x = jax.device_put(
                TRANSFORMS[model](_random_images(self.batch)), parallel.batch_sharded(mesh)
            )
            step = jax.jit(step, donate_argnums=0)
            key = jax.random.key(1)
            self.steps_per_call = 1
            self._call = lambda state, i: step(state, x, jax.random.fold_in(key, i))
        elif name == "epoch":
            pieces = epochs.setup(
                config,
                _random_images(self.batch * epoch_steps),
                step_fn=step,
                transform=TRANSFORMS[model],
                metrics_cls=module.TrainMetrics,
                example_fn=None,  # no evaluator is built
            )
            self.steps_per_call = epoch_steps
            self._call = pieces.train_epoch
        else:
            raise ValueError(f"unknown case {name!r}: expected step or epoch")
        self._state, self._calls = state, 0
        self.time(1)  # compile and warm up

    def time(self, repeats: int) -> list[float]:
        seconds = []
        for _ in range(repeats):
            self._calls += 1
            t0 = time.perf_counter()
            self._state, metrics = self._call(self._state, self._calls)
            jax.block_until_ready(metrics)
            seconds.append((time.perf_counter() - t0) / self.steps_per_call)
        return seconds

    def row(self, seconds: Sequence[float]) -> dict:
        median = statistics.median(seconds)
        return {
            "impl": "jax",
            "model": self.model,
            "case": self.name,
            "batch": self.batch,
            "step_ms": round(statistics.fmean(seconds) * 1e3, 3),
            "step_ms_median": round(median * 1e3, 3),
            "images_per_sec": round(self.batch / median, 1),
            "steps": len(seconds) * self.steps_per_call,
            "conv_impl": self.conv_impl,
            "device": jax.devices()[0].platform,
            "num_devices": jax.device_count(),
            "jax": jax.__version__,
        }


def torch_speed(script: str, python: str, model: str, batch: int, steps: int, warmup: int) -> dict:
    """Runs `torch_reference.py speed` once in a subprocess and returns its JSON row."""
    cmd = [python, script, "speed", "--model", model, "--batch", str(batch),
           "--steps", str(steps), "--warmup", str(warmup)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(
    cases: Sequence[Case],
    *,
    rounds: int,
    steps: int,
    torch_script: str | None = None,
    torch_python: str = sys.executable,
    torch_warmup: int = 3,
    emit: Callable[[dict], None] = lambda row: print(json.dumps(row), flush=True),
) -> list[dict]:
    """Times every case (and the PyTorch reference of each model) in `rounds` alternating rounds.

    Each round times about `steps` steps of each case (an epoch case: whole epochs), then, if
    `torch_script` is given, runs the reference for each model once with `steps` steps. Emits
    one row per case and round, then one summary row per case: the median over rounds of the
    per-round medians, and with the reference the ratio of images/s (ours / torch).
    """
    per_round: dict[tuple, list[float]] = {}
    models = sorted({(c.model, c.batch) for c in cases})
    for r in range(rounds):
        for case in cases:
            seconds = case.time(max(1, steps // case.steps_per_call))
            row = case.row(seconds) | {"round": r}
            per_round.setdefault((case.model, case.name, case.conv_impl), []).append(
                row["step_ms_median"]
            )
            emit(row)
        if torch_script:
            for model, batch in models:
                row = torch_speed(torch_script, torch_python, model, batch, steps, torch_warmup)
                per_round.setdefault((model, "torch"), []).append(row["step_ms_median"])
                emit(row | {"round": r})
    summary = []
    for case in cases:
        ms = statistics.median(per_round[(case.model, case.name, case.conv_impl)])
        row = {"summary": True, "model": case.model, "case": case.name, "batch": case.batch,
               "conv_impl": case.conv_impl, "step_ms_median": round(ms, 2),
               "images_per_sec": round(case.batch / ms * 1e3, 1), "rounds": rounds}  # fmt: skip
        if torch_script:
            torch_ms = statistics.median(per_round[(case.model, "torch")])
            row["torch_images_per_sec"] = round(case.batch / torch_ms * 1e3, 1)
            row["ratio_vs_torch"] = round(torch_ms / ms, 3)
        emit(row)
        summary.append(row)
    return summary


def time_full_run(model: str, workdir: str, data_dir: str = "", epochs: int | None = None) -> dict:
    """Trains configs/{model}.py from scratch into `workdir` and times it end to end.

    The time covers everything `train_and_evaluate` does: loading the data, compiling, every
    epoch with its validation, checkpoints and pictures, and the final test evaluation.

    Args:
      model: "vae" or "aae".
      workdir: run directory; an earlier run there is deleted first (--fresh).
      data_dir: folder of IDX files; "" = tensorflow-datasets.
      epochs: override of config.num_epochs; None = the assignment's (80 VAE, 100 AAE).

    Returns:
      {"model", "epochs", "seconds", "device", "device_kind", "final": the run's final row}.
    """
    config = importlib.import_module(f"configs.{model}").get_config()
    config.data.dir = data_dir
    if epochs is not None:
        config.num_epochs = epochs
    trainer = importlib.import_module(f"{model}.train")
    t0 = time.perf_counter()
    final = trainer.train_and_evaluate(config, workdir, fresh=True)
    seconds = time.perf_counter() - t0
    device = jax.devices()[0]
    return {
        "model": model,
        "epochs": config.num_epochs,
        "seconds": round(seconds, 1),
        "device": device.platform,
        "device_kind": device.device_kind,
        "num_devices": jax.device_count(),
        "jax": jax.__version__,
        "final": final,
    }
