"""Times the VAE and AAE training steps and compiled epochs; one JSON line per case and round.

    python scripts/benchmark.py [--model vae|aae|both] [--cases step,epoch] [--rounds 5]
        [--steps 20] [--batch N] [--conv_impl auto|cpu|xla]
        [--torch_reference PATH/torch_reference.py --torch_python PATH/python]

Rows match `torch_reference.py speed` of the PyTorch reference. With --torch_reference, each
round also runs the reference for each model in a subprocess (same steps, same batch), and the
summary rows give the median images/s of both and their ratio: the side-by-side comparison of
the README. The last lines are one summary row per case.
"""

from absl import app, flags

from common import cli

flags.DEFINE_enum("model", "both", ["vae", "aae", "both"], "Which model to time.")
flags.DEFINE_list("cases", ["step", "epoch"], "Cases: step (one jitted step), epoch (a scan).")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds; the summary is the median over rounds.")
flags.DEFINE_integer("steps", 20, "Timed steps per round (step case and the reference).")
flags.DEFINE_integer("epoch_steps", 20, "Steps in the epoch case's compiled scan.")
flags.DEFINE_integer("batch", None, "Batch size; default: the config's (128 vae, 64 aae).")
flags.DEFINE_list("conv_impl", ["auto"], "Convolution forms to time (auto, cpu, xla).")
flags.DEFINE_string("torch_reference", None, "Path of torch_reference.py to interleave with.")
flags.DEFINE_string("torch_python", None, "Python that has torch (default: this one).")
FLAGS = flags.FLAGS


def make_trainer(model: str, conv_impl: str):
    """The trainer of configs/{model}.py, with --batch and the convolution form applied."""
    from configs import experiments

    config = experiments.BY_NAME[model].get_config()
    config.batch_size = FLAGS.batch or config.batch_size
    config.conv_impl = conv_impl
    return experiments.TRAINERS[config.model](config)


def main(argv):
    del argv
    import json
    import sys

    from common import benchmark, reproduce

    print(json.dumps({"machine": reproduce.machine_info()}), flush=True)
    models = ("vae", "aae") if FLAGS.model == "both" else (FLAGS.model,)
    cases = [
        benchmark.Case(make_trainer(model, impl), case, FLAGS.epoch_steps)
        for model in models
        for case in FLAGS.cases
        for impl in FLAGS.conv_impl
    ]
    benchmark.interleaved(
        cases,
        rounds=FLAGS.rounds,
        steps=FLAGS.steps,
        torch_script=FLAGS.torch_reference,
        torch_python=FLAGS.torch_python or sys.executable,
    )


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
