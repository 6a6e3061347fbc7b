"""Trains the VAE: python scripts/train_vae.py --config configs/vae.py --workdir runs/vae"""

import os

from absl import app, flags

from common import cli

_CONFIG = cli.define_train_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "vae.py"))


def main(argv):
    del argv
    from vae import train  # after flag parsing: --help stays fast

    cli.run_or_exit(
        lambda: train.train_and_evaluate(_CONFIG.value, flags.FLAGS.workdir, flags.FLAGS.fresh)
    )


if __name__ == "__main__":
    app.run(main)
