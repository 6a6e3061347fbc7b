"""Runs every experiment of a plan (configs/experiments.py) from its config, then writes its
report: "assignment" (the default; docs/results.md), "priors" (docs/priors.md) or "paper"
(docs/paper.md).

    python scripts/reproduce.py                      # all of them, full length, tfds MNIST
    python scripts/reproduce.py --epoch_scale 0.1    # every schedule a tenth as long
    python scripts/reproduce.py --only vae,aae --data_dir FOLDER_OF_IDX_FILES
    python scripts/reproduce.py --report_only        # rewrite the report from the workdirs
    python scripts/reproduce.py --seeds 42,1,2 --full_scale_data FASHION_MNIST_FOLDER
    python scripts/reproduce.py --plan priors        # the AAE's other priors, docs/priors.md
    python scripts/reproduce.py --plan paper         # its Tables 2 and 3, docs/paper.md

The assignment's and the priors' plans also write docs/sample_quality.md (every run's samples
scored at its sample epochs); every plan writes the z 2 runs' latent plane explorer,
docs/explorer/index.html. Each experiment trains into ROOT/NAME; the same command again resumes
unfinished runs and skips finished ones."""

from absl import flags

from common import cli

flags.DEFINE_enum(
    "plan",
    "assignment",
    ["assignment", "priors", "paper"],  # configs/experiments.py: PLANS (a test keeps them equal)
    "Which experiments and report: the assignment's (docs/results.md), the AAE paper's other "
    "priors (docs/priors.md), or its semi-supervised classification and clustering "
    "(docs/paper.md).",
)
flags.DEFINE_string("root", "runs/reproduce", "Folder of the workdirs, one per experiment.")
flags.DEFINE_string("docs", "docs", "Where the plan's report and its figures are written.")
flags.DEFINE_string("data_dir", None, "Folder of IDX files; default: tensorflow-datasets MNIST.")
flags.DEFINE_float("epoch_scale", 1.0, "Factor on every schedule's epochs (rounded up, >= 1).")
flags.DEFINE_integer(
    "limit", None, "Train on N images (the first of the seeded split); default: all."
)
flags.DEFINE_list("only", None, "Comma-separated experiment names; default: all of them.")
flags.DEFINE_bool("report_only", False, "Write the report from the workdirs; train nothing.")
flags.DEFINE_list(
    "seeds",
    [],
    "Also train the plan's headline experiments at these seeds, into ROOT/NAME-seedS; the "
    "report gives each headline number's mean and spread. Headline: assignment: vae, aae; "
    "priors: aae_z2_mixture_labels, aae_z2_swiss_roll_labels; paper: aae_semi_100, "
    "aae_semi_1000, aae_semi_all, aae_cluster_16, aae_cluster_30.",
)
flags.register_validator(
    "seeds",
    lambda seeds: all(s.strip().isdigit() for s in seeds),
    message="--seeds takes a comma-separated list of integers >= 0, e.g. 42,1,2",
)
flags.DEFINE_bool(
    "sweeps",
    False,
    "Also run the sweeps of the selected experiments (configs/experiments.py: SWEEPS; the plain "
    "autoencoders at 5 seeds with and without the warm-up, 10 epochs each).",
)
flags.DEFINE_string(
    "full_scale_data",
    None,
    "An IDX folder with train and test files (e.g. Fashion-MNIST's): the headline experiments "
    "are also trained on it, into ROOT/full_scale/NAME.",
)
flags.DEFINE_integer(
    "num_images",
    1000,
    "Test images for the VAE's importance-weighted log-likelihood (K up to 1000; slow on a "
    "CPU); 0 skips it.",
)
flags.DEFINE_integer(
    "num_samples",
    10_000,
    "Samples per model for the sample-quality numbers (Parzen, FID, coverage) of every run at "
    "its sample epochs, into docs/sample_quality.md (the assignment's and the priors' plans; "
    "the paper's scores none); 0 skips them.",
)
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from common.experiments import reproduce
    from configs import experiments

    cli.enable_compilation_cache()
    options = reproduce.Options(
        root=FLAGS.root,
        docs_dir=FLAGS.docs,
        epoch_scale=FLAGS.epoch_scale,
        data_dir=FLAGS.data_dir,
        limit=FLAGS.limit,
        only=FLAGS.only or (),
        report_only=FLAGS.report_only,
        num_images=FLAGS.num_images,
        seeds=[int(s) for s in FLAGS.seeds],
        full_scale_data=FLAGS.full_scale_data,
        run_sweeps=FLAGS.sweeps,
        num_samples=FLAGS.num_samples,
    )
    with cli.one_line_errors():
        reproduce.main(experiments.PLANS[FLAGS.plan], options)


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
