"""The experiments (one per config file), the course's reference numbers, and the plans.

`scripts/reproduce.py --plan NAME` trains one of `PLANS` and writes its report: "assignment"
(the default) docs/results.md, "priors" the AAE paper's other priors in docs/priors.md (both
also docs/sample_quality.md), "paper" its semi-supervised classification and clustering in
docs/paper.md. Like every config, this imports only configs and their helpers:
trainers are found from `config.model` by name (common/train/kinds.py).
"""

from common.experiments.plans import (
    Comparison,
    Experiment,
    Gallery,
    Headline,
    PaperNumber,
    PaperRow,
    Plan,
    Reference,
    SampleQuality,
    Sweep,
    Variant,
)
from configs import (
    aae,
    aae_cluster_16,
    aae_cluster_30,
    aae_semi_100,
    aae_semi_100_supervised,
    aae_semi_1000,
    aae_semi_all,
    aae_z2,
    aae_z2_mixture,
    aae_z2_mixture_all_labels,
    aae_z2_mixture_labels,
    aae_z2_swiss_roll_all_labels,
    aae_z2_swiss_roll_labels,
    aae_z20,
    aae_z20_stochastic,
    ae_z2,
    ae_z8,
    vae,
    vae_z2,
)

HEADLINES = {
    "vae": Headline(
        "bpd",
        "bpd (negative ELBO)",
        ".3f",
        ("train_bpd", "val_bpd", "train_l_rec", "train_l_reg"),
        note="The VAE sees 4-bit pixels (16 values); its test bpd is of the epoch with the best "
        "validation bpd.",
    ),
    "aae": Headline(
        "recon_loss",
        "reconstruction MSE",
        ".4f",
        (
            "train_recon_loss",
            "val_recon_loss",
            "train_gen_loss",
            "train_disc_loss",
            "train_disc_accuracy",
        ),
        note="The AAE sees pixels in [-1, 1]; its test reconstruction loss is of the last epoch "
        "(it has no number to choose an epoch by).",
    ),
    "aae_semi": Headline(
        "error",
        "classification error (%)",
        ".2f",
        (
            "train_class_error",
            "val_error",
            "val_recon_loss",
            "train_disc_style_accuracy",
            "train_disc_class_accuracy",
        ),
        note="The semi-supervised AAE's test error is of the epoch with the best validation "
        "error (choosing on the test set would bias it); a clustering run's clusters take the "
        "label of the validation image each is surest of, for the test error too. Its train "
        "error is of the labelled mini-batches (none for clustering).",
        train_metric="class_error",
    ),
}

VAE_BPD = Reference(
    "train_bpd",
    0.52,
    below=False,
    text="train bpd about 0.52 after 80 epochs",
    tolerance=0.005,
    lower_is_better=True,
)
VAE_ALONG = (
    Reference(  # the course's "train bpd at the start": the untrained model's, validation's here
        "val_bpd", 4.0, below=False, text="about 4 at the start", epoch=0, tolerance=0.5
    ),
    Reference("train_bpd", 2.0, below=True, text="below 2.0 after 2 epochs", epoch=2),
)
AAE_RECON = Reference(
    "train_recon_loss",
    0.05,
    below=True,
    text="reconstruction loss below 0.05 (z 8, lambda 0.995)",
)

EXPERIMENTS = (
    Experiment(
        "vae",
        vae.get_config,
        "Q1.7, Q1.8",
        "VAE, z 20",
        ("bpd_curve", "samples", "reconstructions", "interpolation", "log_likelihood"),
        reference=VAE_BPD,
        checks=VAE_ALONG,
    ),
    Experiment(
        "vae_z2",
        vae_z2.get_config,
        "Q1.9",
        "VAE, z 2: the data manifold",
        ("manifold", "interpolation"),
    ),
    Experiment(
        "ae_z8",
        ae_z8.get_config,
        "Q2.4",
        "Autoencoder (lambda 1), z 8",
        ("last_reconstructions", "interpolation", "loss_curve"),
    ),
    Experiment(
        "aae",
        aae.get_config,
        "Q2.5",
        "AAE, z 8, lambda 0.995",
        ("reconstructions", "samples", "interpolation", "loss_curve"),
        reference=AAE_RECON,
    ),
    Experiment(
        "ae_z2",
        ae_z2.get_config,
        "Q2.6",
        "Autoencoder (lambda 1), z 2",
        ("reconstructions", "samples", "latent_scatter"),
    ),
    Experiment(
        "aae_z2",
        aae_z2.get_config,
        "Q2.6",
        "AAE, z 2, lambda 0.995",
        ("reconstructions", "samples", "latent_scatter"),
    ),
    Experiment(
        "aae_z20",
        aae_z20.get_config,
        "Q2.7",
        "AAE, z 20, deterministic encoder",
        ("samples", "interpolation"),
    ),
    Experiment(
        "aae_z20_stochastic",
        aae_z20_stochastic.get_config,
        "Q2.7",
        "AAE, z 20, stochastic encoder",
        ("samples", "interpolation"),
    ),
)

# The codes of these pairs are compared in numbers (MMD to N(0, I), mean, covariance).
COMPARISONS = (
    Comparison("Q2.4 / Q2.5", "ae_z8", "aae"),
    Comparison("Q2.6", "ae_z2", "aae_z2"),
    Comparison("Q2.7", "aae_z20", "aae_z20_stochastic"),
)

BY_NAME = {e.name: e for e in EXPERIMENTS}

# The plain autoencoder's collapse on MNIST, by seed: with the encoder + decoder's warm-up (the
# configs' default) and without (the course template).
SWEEPS = (
    Sweep(
        "ae_collapse",
        "The plain autoencoder, by seed: with and without the warm-up",
        experiments=("ae_z8", "ae_z2"),
        seeds=(0, 1, 2, 3, 4),
        epochs=10,
        variants=(
            Variant("warmup", f"a warm-up of {aae.WARMUP} steps (the default)"),
            Variant(
                "template",
                "no warm-up (the course template)",
                overrides=(("optimizers.ae.warmup_steps", 0),),
            ),
        ),
    ),
)


# Beyond the assignment: the AAE paper's other priors (its Figures 2 and 4), beside the
# assignment's z 2 models with N(0, I) (the same runs as the assignment plan's, when both plans
# share a root).
PRIOR_EXPERIMENTS = (
    Experiment(
        "aae_z2_mixture",
        aae_z2_mixture.get_config,
        "paper Fig. 2",
        "AAE, z 2, a mixture of 10 Gaussians as the prior",
        ("samples", "latent_scatter"),
    ),
    Experiment(
        "aae_z2_mixture_labels",
        aae_z2_mixture_labels.get_config,
        "paper Fig. 4",
        "AAE, z 2, a mixture of 10 Gaussians, label-guided (a fifth of the images labelled)",
        ("samples", "latent_scatter"),
        spread=True,
    ),
    Experiment(
        "aae_z2_swiss_roll_labels",
        aae_z2_swiss_roll_labels.get_config,
        "paper Fig. 4",
        "AAE, z 2, a swiss roll, label-guided (a fifth of the images labelled)",
        ("samples", "latent_scatter"),
        spread=True,
    ),
    Experiment(
        "aae_z2_mixture_all_labels",
        aae_z2_mixture_all_labels.get_config,
        "paper Fig. 4",
        "AAE, z 2, a mixture of 10 Gaussians, every image labelled",
        ("samples", "latent_scatter"),
    ),
    Experiment(
        "aae_z2_swiss_roll_all_labels",
        aae_z2_swiss_roll_all_labels.get_config,
        "paper Fig. 4",
        "AAE, z 2, a swiss roll, every image labelled",
        ("samples", "latent_scatter"),
    ),
)

# Beyond the assignment: the AAE paper's semi-supervised classification and clustering (its
# sections 5 and 6, Tables 2 and 3), with the same labels alone beside (the benefit of the
# unlabelled images). Makhzani et al. (2015): test error on MNIST, %, mean ± its error.
SEMI = ("samples", "error_curve", "style_grid", "confusion_matrix")
PAPER_EXPERIMENTS = (
    Experiment(
        "aae_semi_100", aae_semi_100.get_config, "paper Table 2", "100 labels", SEMI, spread=True
    ),
    Experiment(
        "aae_semi_1000",
        aae_semi_1000.get_config,
        "paper Table 2",
        "1,000 labels",
        SEMI,
        spread=True,
    ),
    Experiment(
        "aae_semi_all", aae_semi_all.get_config, "paper Table 2", "every label", SEMI, spread=True
    ),
    Experiment(
        "aae_cluster_16",
        aae_cluster_16.get_config,
        "paper Table 3",
        "16 clusters",
        (*SEMI, "cluster_grid"),
        spread=True,
    ),
    Experiment(
        "aae_cluster_30",
        aae_cluster_30.get_config,
        "paper Table 3",
        "30 clusters",
        (*SEMI, "cluster_grid"),
        spread=True,
    ),
    Experiment(
        "aae_semi_100_supervised",
        aae_semi_100_supervised.get_config,
        "baseline",
        "the same 100 labels alone (no unlabelled images)",
        ("error_curve", "confusion_matrix"),
    ),
)
# Beyond the assignment: every z 2 experiment on one page, the latent plane explorer
# (docs/explorer/index.html), but the supervised baseline (it trains no decoder).
Z2_EXPERIMENTS = tuple(
    e
    for e in (*EXPERIMENTS, *PRIOR_EXPERIMENTS, *PAPER_EXPERIMENTS)
    if e.get_config().z_dim == 2 and e.get_config().get("task") != "supervised"
)

# Beyond the assignment: the samples of every experiment in numbers
# (common/evaluation/sample_quality.py), one report for both plans (docs/sample_quality.md).
SAMPLE_QUALITY = SampleQuality(
    experiments=(*EXPERIMENTS, *PRIOR_EXPERIMENTS),
    over_epochs=(("Q1.8", "vae"), ("Q2.5", "aae")),
    pairs=(*COMPARISONS, Comparison("paper Fig. 4", "aae_z2_mixture", "aae_z2_mixture_labels")),
    # Makhzani et al. (2015), Table 1, MNIST (Parzen window estimates, nats).
    paper=(
        PaperNumber("DBN", 138, 2),
        PaperNumber("Stacked CAE", 121, 1.6),
        PaperNumber("Deep GSN", 214, 1.1),
        PaperNumber("GAN", 225, 2),
        PaperNumber("GMMN + AE", 282, 2),
        PaperNumber("AAE", 340, 2),
    ),
    beside_paper=("aae", "ae_z8"),
)

ASSIGNMENT = Plan(
    experiments=EXPERIMENTS,
    headlines=HEADLINES,
    comparisons=COMPARISONS,
    sweeps=SWEEPS,
    log_likelihood="vae.log_likelihood:evaluate_workdir",
    samples=SAMPLE_QUALITY,
    explore=Z2_EXPERIMENTS,
    overview=("vae", "aae", "vae_z2"),
)

PRIORS = Plan(
    experiments=(BY_NAME["vae_z2"], BY_NAME["aae_z2"], *PRIOR_EXPERIMENTS),
    headlines=HEADLINES,
    galleries=(
        Gallery(
            "The codes under each prior (the AAE paper's Figures 2 and 4)",
            "The validation digits' codes, coloured by label, over the density of each run's "
            "prior (grey). The AAE imposes any prior it can sample with no change to its loss; "
            "label-guided, the training images' labels (one-hots the discriminator sees with "
            "each code) tell each digit which region of the prior is its own. The VAE z 2 "
            "(N(0, I), its KL term) is shown for comparison.",
            experiments=(
                "aae_z2",
                "aae_z2_mixture",
                "aae_z2_mixture_labels",
                "aae_z2_mixture_all_labels",
                "aae_z2_swiss_roll_labels",
                "aae_z2_swiss_roll_all_labels",
                "vae_z2",
            ),
        ),
    ),
    name="priors",
    title="Results: the AAE's other priors (beyond the assignment)",
    report_file="priors.md",
    figures="figures/priors",
    samples=SAMPLE_QUALITY,
    explore=Z2_EXPERIMENTS,
)

PAPER = Plan(
    experiments=PAPER_EXPERIMENTS,
    headlines=HEADLINES,
    name="paper",
    title="Results: the AAE paper's semi-supervised classification and clustering",
    report_file="paper.md",
    figures="figures/paper",
    explore=Z2_EXPERIMENTS,
    paper_rows=(
        PaperRow(
            "Table 2",
            "100 labels",
            "aae_semi_100",
            PaperNumber("AAE", 1.90, 0.10),
            3.0,
            baseline="aae_semi_100_supervised",
        ),
        PaperRow("Table 2", "1,000 labels", "aae_semi_1000", PaperNumber("AAE", 1.60, 0.08), 2.0),
        PaperRow("Table 2", "every label", "aae_semi_all", PaperNumber("AAE", 0.85, 0.02), 1.0),
        PaperRow("Table 3", "16 clusters", "aae_cluster_16", PaperNumber("AAE", 9.55, 2.05), 12.0),
        PaperRow("Table 3", "30 clusters", "aae_cluster_30", PaperNumber("AAE", 4.10, 1.13), None),
    ),
)

PLANS = {plan.name: plan for plan in (ASSIGNMENT, PRIORS, PAPER)}
