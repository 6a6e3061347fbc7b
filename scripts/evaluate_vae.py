"""Importance-weighted log-likelihood of a trained VAE, beside the prior-proposal estimate.

    python scripts/evaluate_vae.py --workdir runs/vae [--epoch 80] [--ks 1,10,100,1000]
        [--num_images 1000] [--split test]

Prints the table and writes it, its JSON and a plot of both proposals into the workdir (see
vae/log_likelihood.py). K = 1000 decodes 1000 latents per image for each proposal: about a minute
per 100 images on a laptop CPU (hours for the whole test set: use --num_images there), seconds on a
GPU. Progress is logged every 30 s."""

from absl import flags

from common import cli

flags.DEFINE_string("workdir", None, "Run directory written by train_vae.py.", required=True)
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the newest that restores.")
flags.DEFINE_list("ks", None, "Numbers of samples K (integers >= 1); default: 1,10,100,1000.")
flags.register_validator(
    "ks",
    lambda ks: ks is None or (bool(ks) and all(k.strip().isdigit() and int(k) >= 1 for k in ks)),
    message="--ks takes a comma-separated list of integers >= 1, e.g. 1,10,100",
)
flags.DEFINE_integer(
    "num_images", None, "Evaluate the first N images; default: all.", lower_bound=1
)
flags.DEFINE_enum("split", "test", ["test", "val", "train"], "Which images.")
flags.DEFINE_integer("seed", 0, "Seed of the z draws.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import os

    from common.train import run_files
    from vae import log_likelihood

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        result = log_likelihood.evaluate_workdir(
            FLAGS.workdir,
            epoch=FLAGS.epoch,
            ks=log_likelihood.KS if FLAGS.ks is None else [int(k) for k in FLAGS.ks],
            num_images=FLAGS.num_images,
            seed=FLAGS.seed,
            split=FLAGS.split,
        )
        print(log_likelihood.markdown_table(result))
        names = (
            run_files.LOG_LIKELIHOOD,
            run_files.LOG_LIKELIHOOD_TABLE,
            run_files.PROPOSAL_VARIANCE,
        )
        print(f"wrote {', '.join(names)} in {os.path.abspath(FLAGS.workdir)}")


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
