"""The assignment's experiments (one per config file) and the course's reference numbers.

`scripts/reproduce.py` trains them all and writes docs/results.md (common/reproduce.py).
`TRAINERS` maps a config's `model` to the trainer class that trains it.
"""

from aae.train import AAETrainer
from common.report import Experiment, Reference
from configs import aae, aae_z2, aae_z20, aae_z20_stochastic, ae_z2, ae_z8, vae, vae_z2
from vae.train import VAETrainer

TRAINERS = {"vae": VAETrainer, "aae": AAETrainer}

VAE_BPD = Reference(
    "train_bpd",
    0.52,
    below=False,
    text="train bpd about 0.52 after 80 epochs (about 4 at the start, below 2.0 after 2)",
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
        ("bpd_curve", "samples", "log_likelihood"),
        reference=VAE_BPD,
    ),
    Experiment("vae_z2", vae_z2.get_config, "Q1.9", "VAE, z 2: the data manifold", ("manifold",)),
    Experiment(
        "ae_z8",
        ae_z8.get_config,
        "Q2.4",
        "Autoencoder (lambda 1), z 8",
        ("last_reconstructions", "loss_curve"),
    ),
    Experiment(
        "aae",
        aae.get_config,
        "Q2.5",
        "AAE, z 8, lambda 0.995",
        ("reconstructions", "samples", "loss_curve"),
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
        "aae_z20", aae_z20.get_config, "Q2.7", "AAE, z 20, deterministic encoder", ("samples",)
    ),
    Experiment(
        "aae_z20_stochastic",
        aae_z20_stochastic.get_config,
        "Q2.7",
        "AAE, z 20, stochastic encoder",
        ("samples",),
    ),
)

BY_NAME = {e.name: e for e in EXPERIMENTS}
