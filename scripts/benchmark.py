"""Times the VAE and AAE training steps and compiled epochs; one JSON line per case.

    python scripts/benchmark.py [--model vae|aae|both] [--steps 20] [--batch N] [--cases step,epoch]

The output matches `torch_reference.py speed` of the PyTorch reference (see README).
"""

import json

from absl import app, flags

flags.DEFINE_enum("model", "both", ["vae", "aae", "both"], "Which model to time.")
flags.DEFINE_integer("steps", 20, "Timed steps (step case) or steps per epoch (epoch case).")
flags.DEFINE_integer("warmup", 5, "Untimed steps first (step case).")
flags.DEFINE_integer("batch", None, "Batch size; default 128 (vae) and 64 (aae).")
flags.DEFINE_list("cases", ["step", "epoch"], "Cases: step, epoch.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from common import benchmark

    for model in ("vae", "aae") if FLAGS.model == "both" else (FLAGS.model,):
        if "step" in FLAGS.cases:
            row = benchmark.benchmark_step(model, FLAGS.batch, FLAGS.steps, FLAGS.warmup)
            print(json.dumps(row), flush=True)
        if "epoch" in FLAGS.cases:
            print(
                json.dumps(benchmark.benchmark_epoch(model, FLAGS.batch, FLAGS.steps)), flush=True
            )


if __name__ == "__main__":
    app.run(main)
