"""The plain autoencoder (lambda 1), z_dim 2 (Question 2.6).

python scripts/train_aae.py --config configs/ae_z2.py --workdir runs/ae_z2
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.z_dim = 2
    config.lambda_ = 1.0
    return config
