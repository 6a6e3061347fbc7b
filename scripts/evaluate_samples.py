"""Sample quality of a trained VAE, AE or AAE: Parzen-window log-likelihood and a classifier's view.

    python scripts/evaluate_samples.py --workdir runs/aae [--epoch 100] [--num_samples 10000]

Draws K samples of the checkpoint (default the newest that restores), scores them with the AAE
paper's Parzen protocol and a small classifier trained once per dataset (cached, by default in
~/.cache/jax_vae_aae/classifiers), prints a table and adds the epoch to WORKDIR/sample_quality.json
(see common/evaluation/sample_quality.py). About a minute on a laptop CPU, the first time a few more
for the classifier."""

from absl import flags

from common import cli

flags.DEFINE_string("workdir", None, "Run directory written by train_vae.py / train_aae.py.")
flags.DEFINE_integer("epoch", None, "Checkpoint epoch; default: the newest that restores.")
flags.DEFINE_integer("num_samples", 10_000, "Samples K of the model (the paper's 10,000).")
flags.DEFINE_integer("seed", 0, "Seed of the samples' draws.")
flags.DEFINE_string(
    "classifier_dir", None, "The classifiers' cache; default: ~/.cache/jax_vae_aae/classifiers."
)
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import os

    from common.evaluation import sample_quality
    from common.train import run_files

    cli.enable_compilation_cache()
    with cli.one_line_errors():
        result = sample_quality.evaluate_workdir(
            FLAGS.workdir,
            epoch=FLAGS.epoch,
            num_samples=FLAGS.num_samples,
            seed=FLAGS.seed,
            classifier_dir=FLAGS.classifier_dir,
        )
        print(sample_quality.format_table(result))
        path = os.path.join(os.path.abspath(FLAGS.workdir), run_files.SAMPLE_QUALITY)
        print(f"wrote epoch {result['epoch']} into {path} ({result['seconds']:.0f} s)")


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
