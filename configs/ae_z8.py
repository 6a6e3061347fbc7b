"""The plain autoencoder (lambda 1), z_dim 8 (Question 2.4).

python scripts/train_aae.py --config configs/ae_z8.py --workdir runs/ae_z8
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.lambda_ = 1.0
    return config
