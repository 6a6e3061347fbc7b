"""The adversarial autoencoder, z_dim 20, deterministic encoder (Question 2.7).

python scripts/train_aae.py --config configs/aae_z20.py --workdir runs/aae_z20
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.z_dim = 20
    return config
