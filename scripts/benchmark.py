"""Our training against the PyTorch reference's, as a user waits for it; one JSON line per run.

    python scripts/benchmark.py --data_dir IDX_FOLDER --torch_reference PATH/torch_reference.py
        --torch_python PATH/python [--models vae,aae] [--rounds 3] [--epochs 3]

"epochs" (the default) runs scripts/train_MODEL.py and `torch_reference.py train` on the same
IDX folder in alternating rounds; a summary row per model gives the median epoch seconds (first
epochs apart), their ratio, and the time to the first epoch's line (ours with an empty and a
warm compilation cache). "steps": a jitted step and a compiled epoch on random data, in the
format of `torch_reference.py speed`, interleaved with it. "convs": each convolution of the step
timed alone (forward, input and kernel gradient), then the whole step for scale:

    python scripts/benchmark.py --mode steps [--cases step,epoch] [--rounds 5] [--steps 20]
        [--batch N] [--conv_impl auto|cpu|xla] [--torch_reference ... --torch_python ...]
    python scripts/benchmark.py --mode convs [--models vae,aae] [--rounds 5] [--steps 10]
"""

from absl import flags

from common import cli

flags.DEFINE_enum(
    "mode", "epochs", ["epochs", "steps", "convs"], "Real epochs, compiled steps, or a profile."
)
flags.DEFINE_list("models", ["vae", "aae"], "Which models to time: vae and/or aae.")
flags.register_validator(
    "models",
    lambda models: bool(models) and set(models) <= {"vae", "aae"},
    "--models: vae and/or aae",
)
flags.DEFINE_string("data_dir", None, "epochs mode: the IDX folder both trainers train on.")
flags.DEFINE_integer("epochs", 3, "epochs mode: epochs per run (the first is not counted).")
flags.DEFINE_list("cases", ["step", "epoch"], "steps mode: step (one jitted step), epoch (a scan).")
flags.register_validator(
    "cases", lambda cases: set(cases) <= {"step", "epoch"}, "--cases: step and/or epoch"
)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds; the summary is the median over rounds.")
flags.DEFINE_integer(
    "steps", 20, "steps, convs modes: timed steps per round (step case and the reference)."
)
flags.DEFINE_integer("epoch_steps", 20, "steps mode: steps in the epoch case's compiled scan.")
flags.DEFINE_integer(
    "batch", None, "steps, convs modes: batch size; default: the config's (128 vae, 64 aae)."
)
flags.DEFINE_list(
    "conv_impl", ["auto"], "steps, convs modes: convolution forms to time (auto, cpu, xla)."
)
flags.DEFINE_string(
    "torch_reference", None, "epochs, steps modes: path of torch_reference.py to run beside ours."
)
flags.DEFINE_string(
    "torch_python", None, "epochs, steps modes: a Python that has torch (default: this one)."
)
for _name in ("rounds", "steps", "epoch_steps", "epochs", "batch"):
    flags.register_validator(
        _name, lambda value: value is None or value >= 1, f"--{_name} must be at least 1"
    )
FLAGS = flags.FLAGS
# The flags each mode reads beside --mode, --models and --rounds (a test keeps each flag's help
# saying its modes): one given to a mode that does not read it is an error, not ignored.
MODE_FLAGS = {
    "epochs": {"data_dir", "epochs", "torch_reference", "torch_python"},
    "steps": {
        "cases",
        "steps",
        "epoch_steps",
        "batch",
        "conv_impl",
        "torch_reference",
        "torch_python",
    },
    "convs": {"steps", "batch", "conv_impl"},
}


def make_trainer(model: str, conv_impl: str):
    """The trainer of configs/{model}.py, with --batch and the convolution form applied."""
    from common.train import kinds
    from configs import experiments

    config = experiments.BY_NAME[model].get_config()
    config.batch_size = FLAGS.batch or config.batch_size
    config.conv_impl = conv_impl
    return kinds.trainer_class(config.model)(config)


def main(argv):
    del argv
    import json
    import os
    import sys

    from common.errors import UserError
    from common.tools import benchmark
    from common.train import helpers

    with cli.one_line_errors():
        unread = sorted(
            {
                name
                for names in MODE_FLAGS.values()
                for name in names - MODE_FLAGS[FLAGS.mode]
                if FLAGS[name].present
            }
        )
        if unread:
            raise UserError(
                f"--mode {FLAGS.mode} does not read {', '.join(f'--{n}' for n in unread)} "
                "(each flag's help says which modes read it)"
            )
    print(json.dumps({"machine": helpers.machine_info()}), flush=True)
    models = FLAGS.models
    with cli.one_line_errors():
        for flag in ("data_dir", "torch_reference", "torch_python"):
            path = FLAGS[flag].value
            if path and not os.path.exists(path):
                raise UserError(f"--{flag}={path} does not exist")
    if FLAGS.mode == "epochs":
        with cli.one_line_errors():
            if not (FLAGS.data_dir and FLAGS.torch_reference):
                raise UserError("--mode epochs needs --data_dir and --torch_reference")
            benchmark.compare_epochs(
                os.path.dirname(os.path.abspath(__file__)),
                models,
                os.path.abspath(FLAGS.data_dir),
                rounds=FLAGS.rounds,
                epochs=FLAGS.epochs,
                torch_script=FLAGS.torch_reference,
                torch_python=FLAGS.torch_python or sys.executable,
            )
        return
    if FLAGS.mode == "convs":
        for model in models:
            for impl in FLAGS.conv_impl:
                benchmark.conv_profile(
                    make_trainer(model, impl), steps=FLAGS.steps, rounds=FLAGS.rounds
                )
        return
    with cli.one_line_errors():
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


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
