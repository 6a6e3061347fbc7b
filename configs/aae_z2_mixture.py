"""The AAE, z_dim 2, with a mixture of 10 2-D Gaussians as its prior (the AAE paper's Figure 2).

    python scripts/train_aae.py --config configs/aae_z2_mixture.py --workdir runs/aae_z2_mixture

The loss is the one of configs/aae_z2.py: only the discriminator's "real" codes change (draws of
the mixture instead of N(0, I)). Without labels nothing says which digit goes to which component.
"""

from common import priors
from configs import aae_z2


def get_config():
    config = aae_z2.get_config()
    config.prior = priors.prior_config("mixture")
    return config
