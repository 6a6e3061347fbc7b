"""Timing of compiled training steps and epochs, in the PyTorch reference's JSON format.

One JSON object per case, as `torch_reference.py speed` prints:
{"impl": "jax", "model": "vae", "case": "step", "batch": 128, "step_ms": ..., "step_ms_median":
..., "images_per_sec": ..., "steps": 20, "device": "cpu"}.
"""

from __future__ import annotations

import functools
import importlib
import time

import jax
import numpy as np

from common import epochs, input_pipeline

DEFAULT_BATCH = {"vae": 128, "aae": 64}
TRANSFORMS = {"vae": input_pipeline.quantize_4bit, "aae": input_pipeline.to_tanh_range}


def _config_and_step(model: str, batch: int):
    module = importlib.import_module(f"{model}.train")
    config = importlib.import_module(f"configs.{model}").get_config()
    config.batch_size = batch
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


def _timed(fn, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _row(model, case, batch, times, steps_per_call, **extra) -> dict:
    per_step = np.asarray(times) / steps_per_call
    return {
        "impl": "jax",
        "model": model,
        "case": case,
        "batch": batch,
        "step_ms": round(float(np.mean(per_step)) * 1e3, 3),
        "step_ms_median": round(float(np.median(per_step)) * 1e3, 3),
        "images_per_sec": round(batch / float(np.median(per_step)), 1),
        "steps": len(times) * steps_per_call,
        "device": jax.devices()[0].platform,
        "num_devices": jax.device_count(),
        "jax": jax.__version__,
        **extra,
    }


def benchmark_step(model: str, batch: int | None = None, steps: int = 20, warmup: int = 5):
    """Times one jitted train step (forward, backward, optimizer) on random data."""
    batch = batch or DEFAULT_BATCH[model]
    config, module, step = _config_and_step(model, batch)
    state = module.create_train_state(config, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1), dtype=np.uint8)
    x = jax.device_put(TRANSFORMS[model](images))
    step = jax.jit(step, donate_argnums=0)
    key = jax.random.key(1)
    holder = [state]

    def call():
        holder[0], metrics = step(holder[0], x, key)
        jax.block_until_ready(metrics)

    return _row(model, "step", batch, _timed(call, warmup, steps), 1)


def benchmark_epoch(model: str, batch: int | None = None, steps: int = 50, repeats: int = 3):
    """Times a compiled epoch of `steps` batches (the scan the training loop runs)."""
    batch = batch or DEFAULT_BATCH[model]
    config, module, step = _config_and_step(model, batch)
    state = module.create_train_state(config, jax.random.key(0))
    images = np.random.default_rng(0).integers(0, 256, (batch * steps, 28, 28, 1), dtype=np.uint8)
    images = jax.device_put(images)
    fn = jax.jit(
        functools.partial(
            epochs.train_epoch,
            step_fn=step,
            transform=TRANSFORMS[model],
            metrics_cls=module.TrainMetrics,
            batch_size=batch,
            shuffle_key=jax.random.key(2),
            train_key=jax.random.key(3),
        ),
        donate_argnums=0,
    )
    holder = [state, 0]

    def call():
        holder[1] += 1
        holder[0], metrics = fn(holder[0], images, holder[1])
        jax.block_until_ready(metrics)

    return _row(model, "epoch", batch, _timed(call, 1, repeats), steps)
