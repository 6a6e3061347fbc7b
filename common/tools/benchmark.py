"""What a user waits for, against the PyTorch reference; and compiled steps as diagnostics.

`compare_epochs` runs our training script and `torch_reference.py train` on the same IDX folder,
alternating (our first round with an empty compilation cache, as a first run). `Case` and
`interleaved` time compiled steps and epochs on random data exactly as training runs them.
Machines are noisy: cases compile once and time in interleaved rounds; compare medians.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from common import nets, parallel
from common.errors import UserError
from common.train import metric_writer
from common.train.run_setup import setup_run
from common.train.trainer import Trainer


def _random_images(num: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (num, 28, 28, 1), dtype=np.uint8)


class Case:
    """One compiled case of a trainer, `name` "step" (one jitted train step) or "epoch" (the
    compiled scan of `steps_per_call` steps); `time(repeats)` gives seconds per step, per call."""

    def __init__(self, trainer: Trainer, name: str, epoch_steps: int = 20):
        config = trainer.config
        self.model, self.name = trainer.kind, name
        self.batch, self.conv_impl = config.batch_size, config.conv_impl
        images = _random_images(self.batch * epoch_steps)
        self._run = setup_run(config, len(images))
        state = jax.jit(trainer.create_train_state)(self._run.keys.init)
        self._state = parallel.replicate(state, self._run.mesh)
        if name == "step":
            batch = trainer.preprocess(images[: self.batch])
            self._args = (jax.device_put(batch, self._run.batch_sharding), jax.random.key(1))
            self._fn = jax.jit(trainer.train_step, donate_argnums=0)
            self.steps_per_call = 1
        elif name == "epoch":
            self._args = (parallel.replicate(images, self._run.mesh),)
            self._fn = jax.jit(trainer.train_epoch, donate_argnums=0)
            self.steps_per_call = epoch_steps
        else:
            raise ValueError(f"unknown case {name!r}: expected step or epoch")
        self._calls = 0
        self.time(1)  # compile and warm up

    def time(self, repeats: int) -> list[float]:
        seconds = []
        for _ in range(repeats):
            self._calls += 1
            args = self._args
            if self.name == "step":  # a new key per step; the epoch case passes the epoch
                args = (args[0], jax.random.fold_in(args[1], self._calls))
            else:
                args = (args[0], self._calls, self._run)
            t0 = time.perf_counter()
            self._state, metrics = self._fn(self._state, *args)
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
    cmd = [
        python,
        script,
        "speed",
        "--model",
        model,
        "--batch",
        str(batch),
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
    ]
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
    """Times about `steps` steps of every case (and, given `torch_script`, of the reference) in
    `rounds` alternating rounds: a row per case and round, then a summary per case (the median of
    the rounds' medians, with the reference the ratio of images/s, ours / torch)."""
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
        row = {
            "summary": True,
            "model": case.model,
            "case": case.name,
            "batch": case.batch,
            "conv_impl": case.conv_impl,
            "step_ms_median": round(ms, 2),
            "images_per_sec": round(case.batch / ms * 1e3, 1),
            "rounds": rounds,
        }
        if torch_script:
            torch_ms = statistics.median(per_round[(case.model, "torch")])
            row["torch_images_per_sec"] = round(case.batch / torch_ms * 1e3, 1)
            row["ratio_vs_torch"] = round(torch_ms / ms, 3)
        emit(row)
        summary.append(row)
    return summary


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One convolution of a training step: where it sits, the layer, its input."""

    path: str  # e.g. "decoder/DecoderTrunk_0/ConvTranspose_2"
    module: nn.Module  # an unbound copy of the layer (common.nets.Conv or ConvTranspose)
    input_shape: tuple[int, ...]  # [B, H, W, C] at the trainer's batch size

    @property
    def input_is_data(self) -> bool:
        """The encoder's first layer reads the images (28 x 28): no input gradient is taken."""
        return self.input_shape[1:3] == (28, 28)

    @property
    def name(self) -> str:
        kind = type(self.module).__name__
        b, h, w, c = self.input_shape
        return f"{self.path} ({kind} {h}x{w}, {c} -> {self.module.features})"


def conv_layers(trainer: Trainer) -> list[ConvLayer]:
    """Every convolution a training step of `trainer` runs, once each, in first-run order
    (traced, not compiled, with flax's method interceptor)."""
    state = jax.eval_shape(trainer.create_train_state, jax.random.key(0))
    images = jax.ShapeDtypeStruct((trainer.config.batch_size, 28, 28, 1), np.uint8)
    batch = jax.eval_shape(trainer.preprocess, images)
    found: dict[str, ConvLayer] = {}

    def record(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(
            module, (nets.Conv, nets.ConvTranspose)
        ):
            path = "/".join(module.path)
            layer = ConvLayer(path, module.clone(parent=None), tuple(args[0].shape))
            found.setdefault(path, layer)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(trainer.train_step, state, batch, jax.random.key(0))
    return list(found.values())


def time_conv_layer(layer: ConvLayer, steps: int, rounds: int) -> dict[str, float]:
    """{"forward", "dx", "dk"}: ms per step of the layer's forward, input gradient and kernel
    (and bias) gradient, each alone in a `lax.scan` of `steps` steps as training runs them;
    medians of `rounds` calls. dx is 0 for the layer that reads the images (never taken)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, *layer.input_shape), np.float32)
    params = jax.eval_shape(lambda x: layer.module.init(jax.random.key(0), x), x[0])
    params = jax.tree.map(lambda p: rng.standard_normal(p.shape, np.float32), params)
    apply = layer.module.apply
    dy = rng.standard_normal((steps, *jax.eval_shape(apply, params, x[0]).shape), np.float32)

    def forward(p, x, dy):
        return jnp.sum(apply(p, x))

    def dx(p, x, dy):
        return jnp.sum(jax.vjp(lambda x: apply(p, x), x)[1](dy)[0])

    def dk(p, x, dy):
        grads = jax.vjp(lambda p: apply(p, x), p)[1](dy)[0]
        return sum(jnp.sum(g) for g in jax.tree.leaves(grads))

    times = {}
    for name, fn in (("forward", forward), ("dx", dx), ("dk", dk)):
        if name == "dx" and layer.input_is_data:
            times[name] = 0.0  # training never differentiates the images
            continue

        def scanned(p, xs, dys, fn=fn):
            body = lambda total, xy: (total + fn(p, *xy), None)  # noqa: E731
            return jax.lax.scan(body, jnp.zeros(()), (xs, dys))[0]

        compiled = jax.jit(scanned).lower(params, x, dy).compile()
        jax.block_until_ready(compiled(params, x, dy))  # warm up
        seconds = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(params, x, dy))
            seconds.append((time.perf_counter() - t0) / steps)
        times[name] = statistics.median(seconds) * 1e3
    return times


def conv_profile(
    trainer: Trainer,
    *,
    steps: int = 10,
    rounds: int = 5,
    emit: Callable[[dict], None] = lambda row: print(json.dumps(row), flush=True),
) -> list[dict]:
    """A row per convolution of `trainer`'s step timed alone, then a summary with the whole
    step for scale (alone they miss XLA's overlap and fusion: their total can exceed it)."""
    rows = []
    for layer in conv_layers(trainer):
        ms = time_conv_layer(layer, steps, rounds)
        row = {"model": trainer.kind, "layer": layer.name} | {k: round(v, 2) for k, v in ms.items()}
        emit(row)
        rows.append(row)
    epoch = Case(trainer, "epoch", steps)
    step_ms = statistics.median(epoch.time(rounds)) * 1e3
    conv_ms = sum(row[k] for row in rows for k in ("forward", "dx", "dk"))
    summary = {
        "summary": True,
        "model": trainer.kind,
        "batch": trainer.config.batch_size,
        "conv_impl": trainer.config.conv_impl,
        "step_ms_in_epoch": round(step_ms, 1),
        "convs_alone_ms": round(conv_ms, 1),
        "device": jax.devices()[0].platform,
        "jax": jax.__version__,
    }
    emit(summary)
    return rows + [summary]


def time_full_run(trainer: Trainer, workdir: str) -> dict:
    """Times `train_and_evaluate` end to end, from scratch in `workdir` (an earlier run there is
    deleted): {"model", "epochs", "seconds", "device", "device_kind", "final"}."""
    t0 = time.perf_counter()
    final = trainer.train_and_evaluate(workdir, fresh=True)
    seconds = time.perf_counter() - t0
    device = jax.devices()[0]
    return {
        "model": trainer.kind,
        "epochs": trainer.config.num_epochs,
        "seconds": round(seconds, 1),
        "device": device.platform,
        "device_kind": device.device_kind,
        "num_devices": jax.device_count(),
        "jax": jax.__version__,
        "final": final,
    }


# ----------------------------------------------------------------------------- real epochs


@dataclasses.dataclass
class TimedRun:
    """One training process, timed from outside."""

    impl: str  # "jax" (this project) or "torch"
    model: str
    round: int
    epoch_seconds: list[float]  # each epoch's training loop, as the trainer reports it
    first_epoch_done_s: float  # from the process's start to its first epoch's line
    wall_s: float  # from start to exit

    def row(self) -> dict:
        return dataclasses.asdict(self) | {
            "epoch_seconds": [round(x, 2) for x in self.epoch_seconds]
        }


def _watch(cmd: list[str], env: dict, first_line: re.Pattern, stream: str) -> tuple:
    """Runs cmd; (seconds until a line of `stream` matches first_line, wall seconds, its text).
    The other stream goes to a file, so a chatty one cannot fill a pipe nobody reads."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as other:
        pipes = {"stdout": other, "stderr": other, stream: subprocess.PIPE}
        proc = subprocess.Popen(cmd, env=env, text=True, **pipes)
        watched = proc.stdout if stream == "stdout" else proc.stderr
        seen, lines = None, []
        for line in watched:
            lines.append(line)
            if seen is None and first_line.search(line):
                seen = time.perf_counter() - start
        proc.wait()
        wall = time.perf_counter() - start
        other.seek(0)
        rest = other.read()
    text = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{(text + rest)[-2000:]}")
    return seen if seen is not None else wall, wall, text


def time_ours(scripts_dir, model, data_dir, epochs, workdir, cache_dir, round_) -> TimedRun:
    """scripts/train_MODEL.py with the default config on `data_dir`, `epochs` epochs."""
    cmd = [
        sys.executable,
        os.path.join(scripts_dir, f"train_{model}.py"),
        f"--workdir={workdir}",
        "--fresh",
        f"--config.num_epochs={epochs}",
        f"--config.data.dir={data_dir}",
    ]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache_dir)
    first, wall, _ = _watch(cmd, env, re.compile(rf"\] epoch 1/{epochs} "), "stderr")
    rows = metric_writer.read_metrics(workdir)
    seconds = [r["seconds"] for r in rows if r.get("epoch", 0) >= 1]
    return TimedRun("jax", model, round_, seconds, first, wall)


def time_torch(script, python, model, data_dir, epochs, round_) -> TimedRun:
    """`torch_reference.py train` on `data_dir`, `epochs` epochs."""
    cmd = [python, script, "train", "--model", model, "--data", data_dir, "--epochs", str(epochs)]
    first, wall, out = _watch(cmd, dict(os.environ), re.compile(r'"epoch": 1,'), "stdout")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    seconds = [r["seconds"] for r in rows if "epoch" in r]
    return TimedRun("torch", model, round_, seconds, first, wall)


def compare_epochs(
    scripts_dir: str,
    models: Sequence[str],
    data_dir: str,
    *,
    rounds: int,
    epochs: int,
    torch_script: str,
    torch_python: str,
    emit: Callable[[dict], None] = lambda row: print(json.dumps(row), flush=True),
) -> list[dict]:
    """Alternating rounds of (ours, PyTorch) per model, then a summary row each: medians of all
    epochs but the first, their ratio (PyTorch's / ours: above 1, we are faster), and the times
    to the first epoch (ours on a first and a later run)."""
    if rounds < 1 or epochs < 2:
        raise UserError(
            f"need rounds >= 1 and epochs >= 2 (the first is not counted); got "
            f"{rounds} and {epochs}"
        )
    runs: list[TimedRun] = []
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        cache = os.path.join(tmp, "xla-cache")  # empty at the first round: a first run
        for r in range(rounds):
            for model in models:
                for impl in ("jax", "torch"):
                    if impl == "jax":
                        workdir = os.path.join(tmp, model)
                        run = time_ours(scripts_dir, model, data_dir, epochs, workdir, cache, r)
                    else:
                        run = time_torch(torch_script, torch_python, model, data_dir, epochs, r)
                    runs.append(run)
                    emit(run.row())
    summary = []
    for model in models:
        ours = [x for x in runs if x.model == model and x.impl == "jax"]
        torch = [x for x in runs if x.model == model and x.impl == "torch"]
        ours_s = statistics.median(s for x in ours for s in x.epoch_seconds[1:])
        torch_s = statistics.median(s for x in torch for s in x.epoch_seconds[1:])
        row = {
            "summary": True,
            "model": model,
            "rounds": rounds,
            "epochs": epochs,
            "epoch_s": round(ours_s, 3),
            "torch_epoch_s": round(torch_s, 3),
            "speed_ratio_vs_torch": round(torch_s / ours_s, 3),
            "first_epoch_done_s_first_run": round(ours[0].first_epoch_done_s, 1),
            "first_epoch_done_s_later_runs": round(
                statistics.median(x.first_epoch_done_s for x in ours[1:]), 1
            )
            if len(ours) > 1
            else None,
            "torch_first_epoch_done_s": round(
                statistics.median(x.first_epoch_done_s for x in torch), 1
            ),
        }
        emit(row)
        summary.append(row)
    return summary
