"""Trains the AAE: python scripts/train_aae.py --config configs/aae.py --workdir runs/aae"""

import os

from absl import app, flags

from common import cli

_CONFIG = cli.define_train_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "aae.py"))


def main(argv):
    del argv
    from aae import train  # after flag parsing: --help stays fast

    cli.run_or_exit(
        lambda: train.train_and_evaluate(_CONFIG.value, flags.FLAGS.workdir, flags.FLAGS.fresh)
    )


if __name__ == "__main__":
    app.run(main)
