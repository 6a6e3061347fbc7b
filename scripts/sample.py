"""Writes an 8x8 grid of prior samples from a VAE or AAE checkpoint in a workdir.

python scripts/sample.py --workdir runs/vae [--epoch 10] [--out samples.png]
"""

import os

from absl import app, flags

from common import cli
from common.train import run_files

flags.DEFINE_string("workdir", None, "Run directory written by train_vae.py / train_aae.py.")
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the newest that restores.")
flags.DEFINE_string("out", None, f"PNG path; default: WORKDIR/{run_files.restored_samples('N')}.")
flags.DEFINE_integer("num", 64, "Number of samples (8 per row).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the prior draws.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import jax

    from common import plotting
    from common.errors import UserError
    from common.train import restore

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        kinds = plotting.new_figure(1, 1).canvas.get_supported_filetypes()  # png, pdf, svg, ...
        if FLAGS.out and os.path.splitext(FLAGS.out)[1].lstrip(".").lower() not in kinds:
            raise UserError(f"--out={FLAGS.out}: the name must end in one of .{', .'.join(kinds)}")
        trainer, state, epoch = restore.restore(FLAGS.workdir, FLAGS.epoch)
        kind = trainer.kind
        key = jax.random.key(FLAGS.seed)
        samples = trainer.sample_grids(state.params, key, FLAGS.num)["samples"]
        out = FLAGS.out or os.path.join(FLAGS.workdir, run_files.restored_samples(epoch))
        try:
            plotting.save_grid(jax.device_get(samples), out, title=f"{kind}, epoch {epoch}")
        except OSError as e:  # a folder that cannot be created or written
            raise UserError(f"cannot write {out}: {e.strerror or e}") from e
        print(f"wrote {out} ({FLAGS.num} samples, {kind} epoch {epoch})")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
