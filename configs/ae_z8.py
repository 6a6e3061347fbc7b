"""The plain autoencoder (lambda 1), z_dim 8 (Question 2.4).

    python scripts/train_aae.py --config configs/ae_z8.py --workdir runs/ae_z8

Without the learning-rate warm-up of configs/aae.py (`--config.optimizers.ae.warmup_steps=0`,
the course template's setting) it collapses at most seeds to one mean image, validation MSE
0.4533. Validation MSE at epochs 1 -> 10 on the MNIST t10k folder (9,000 / 1,000 images), as
`python scripts/reproduce.py --only ae_z8,ae_z2 --sweeps` writes it:

    seed               0             1             2             3             4
    warm-up 100 steps  0.180->0.074  0.157->0.075  0.167->0.074  0.199->0.072  0.187->0.077
    no warm-up         0.148->0.075  0.453->0.453  0.453->0.453  0.453->0.453  0.453->0.453
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.lambda_ = 1.0
    return config
