"""Writes an 8x8 grid of prior samples from a VAE or AAE checkpoint in a workdir.

python scripts/sample.py --workdir runs/vae [--epoch 10] [--out samples.png]
"""

import os

import jax
from absl import app, flags

from common import cli

flags.DEFINE_string("workdir", None, "Run directory written by train_vae.py / train_aae.py.")
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the latest.")
flags.DEFINE_string("out", None, "PNG path; default: WORKDIR/samples/restored_epoch_N.png.")
flags.DEFINE_integer("num", 64, "Number of samples (8 per row).")
flags.DEFINE_integer("seed", 0, "Seed of the prior draws.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from common import images, restore

    def sample():
        config, module, state, epoch = restore.restore_run(FLAGS.workdir, FLAGS.epoch)
        grid = module.prior_samples(config, state.params, jax.random.key(FLAGS.seed), FLAGS.num)
        out = FLAGS.out or os.path.join(FLAGS.workdir, "samples", f"restored_epoch_{epoch}.png")
        images.save_grid(jax.device_get(grid), out, title=f"{config.model}, epoch {epoch}")
        print(f"wrote {out} ({FLAGS.num} samples, {config.model} epoch {epoch})")

    cli.run_or_exit(sample)


if __name__ == "__main__":
    app.run(main)
