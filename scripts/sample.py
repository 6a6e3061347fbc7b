"""Writes a grid of prior samples of a trained VAE, AE or AAE (any workdir).

python scripts/sample.py --workdir runs/vae [--epoch 10] [--num_samples 64] [--out samples.png]
"""

import os

from absl import flags

from common import cli
from common.train import run_files

flags.DEFINE_string("workdir", None, "Run directory written by train_vae.py / train_aae.py.")
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the newest that restores.")
flags.DEFINE_string(
    "out", None, f"Picture path; default: WORKDIR/{run_files.restored_samples('N')}."
)
flags.DEFINE_integer("num_samples", 64, "Number of samples (8 per row).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the prior draws.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from common import load, plotting
    from common.errors import UserError

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        formats = plotting.new_figure(1, 1).canvas.get_supported_filetypes()  # png, pdf, svg, ...
        if FLAGS.out and os.path.splitext(FLAGS.out)[1].lstrip(".").lower() not in formats:
            raise UserError(
                f"--out={FLAGS.out}: the name must end in one of .{', .'.join(formats)}"
            )
        model = load(FLAGS.workdir, FLAGS.epoch)
        samples = model.sample(FLAGS.seed, FLAGS.num_samples)
        out = FLAGS.out or os.path.join(FLAGS.workdir, run_files.restored_samples(model.epoch))
        title = f"{model.kind}, epoch {model.epoch}: {FLAGS.num_samples} samples"
        try:
            plotting.save_grid(samples, out, title=title)
        except OSError as e:  # a folder that cannot be created or written
            raise UserError(f"cannot write {out}: {e.strerror or e}") from e
        print(f"wrote {out} ({FLAGS.num_samples} samples, {model.kind} epoch {model.epoch})")


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
