"""The plain autoencoder (lambda 1), z_dim 2 (Question 2.6).

    python scripts/train_aae.py --config configs/ae_z2.py --workdir runs/ae_z2

Without the learning-rate warm-up of configs/aae.py (`--config.optimizers.ae.warmup_steps=0`,
the course template's setting) it collapses at every seed to one mean image, validation MSE
0.4533. Validation MSE at epochs 1 -> 10 on the MNIST t10k folder (9,000 / 1,000 images), as
`python scripts/reproduce.py --only ae_z8,ae_z2 --sweeps` writes it:

    seed               0             1             2             3             4
    warm-up 100 steps  0.225->0.171  0.236->0.173  0.231->0.176  0.230->0.169  0.232->0.170
    no warm-up         0.453->0.453  0.453->0.453  0.453->0.453  0.453->0.453  0.453->0.453
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.z_dim = 2
    config.lambda_ = 1.0
    return config
