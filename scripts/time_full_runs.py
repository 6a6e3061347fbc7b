"""Times the assignment's full runs end to end: the VAE (80 epochs) and the AAE (100 epochs).

    python scripts/time_full_runs.py [--models vae,aae] [--data_dir FOLDER] [--root runs/timed]
        [--epochs N]

Each run starts from scratch (its workdir under --root is emptied), and the time covers data
loading, compilation, training, validation every epoch, checkpoints, pictures and the final
test. One JSON line per run. The project's GPU target: the VAE under 60 s on one H100.
"""

import json
import os

from absl import flags

from common import cli

flags.DEFINE_list("models", ["vae", "aae"], "Which runs to time: vae and/or aae.")
flags.register_validator(
    "models", lambda models: set(models) <= {"vae", "aae"}, "--models: vae and/or aae"
)
flags.DEFINE_string("data_dir", "", "Folder of IDX files; default: tensorflow-datasets MNIST.")
flags.DEFINE_string("root", "runs/timed", "Workdirs go to ROOT/MODEL (emptied first).")
flags.DEFINE_integer("epochs", None, "Override the epochs (default: the assignment's).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from common.tools import benchmark
    from common.train import kinds
    from configs import experiments

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        for model in FLAGS.models:
            config = experiments.BY_NAME[model].get_config()
            config.data.dir = FLAGS.data_dir
            config.num_epochs = FLAGS.epochs if FLAGS.epochs is not None else config.num_epochs
            trainer = kinds.trainer_class(config.model)(config)
            workdir = os.path.abspath(os.path.join(FLAGS.root, model))
            print(json.dumps(benchmark.time_full_run(trainer, workdir)), flush=True)


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
