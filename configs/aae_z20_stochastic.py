"""The adversarial autoencoder, z_dim 20, stochastic encoder (Question 2.7).

python scripts/train_aae.py --config configs/aae_z20_stochastic.py --workdir runs/aae_z20_stochastic
"""

from configs import aae


def get_config():
    config = aae.get_config()
    config.z_dim = 20
    config.stochastic_encoder = True
    return config
