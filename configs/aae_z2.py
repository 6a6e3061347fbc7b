"""The adversarial autoencoder, z_dim 2 (Question 2.6).

python scripts/train_aae.py --config configs/aae_z2.py --workdir runs/aae_z2
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.z_dim = 2
    return config
