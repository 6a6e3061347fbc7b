"""VAE with a 2-d latent space for the data manifold (Question 1.9).

    python scripts/train_vae.py --config configs/vae_z2.py --workdir runs/vae_z2

Writes runs/vae_z2/manifold.png: a 20x20 grid of decoded z at the normal ppf of (i + 0.5) / 20.
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.z_dim = 2
    return config
