"""A page to walk the latent plane of a z 2 run (VAE, AE or AAE, any prior; a semi-supervised or
clustering AAE of style z 2), opened in a browser.

    python scripts/explore.py --workdir runs/vae_z2 [--epoch 80] [--out DIR]

Writes DIR (default WORKDIR/explorer/): index.html, its script and style, data.js and the decoded
images as PNG sprites; open index.html in a browser (file:// works: no server, nothing fetched).
See common/report/explorer.py.
"""

from absl import flags

from common import cli

flags.DEFINE_string("workdir", None, "Run directory of a z 2 run.")
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the newest that restores.")
flags.DEFINE_string("out", None, "Folder of the page; default: WORKDIR/explorer.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import os

    from common import files
    from common.report import explorer
    from common.train import kinds

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        kinds.read_config(FLAGS.workdir)  # a run of this project's there, or one line
        out = FLAGS.out or explorer.default_out(FLAGS.workdir)
        files.check_writable(out)  # before the model is restored and its tiles decoded
        model = explorer.load(FLAGS.workdir, epoch=FLAGS.epoch)
        path = explorer.write_page([model], out)
        print(f"wrote {os.path.abspath(path)}: open it in a browser")


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
