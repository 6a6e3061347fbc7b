"""The AAE, z_dim 2, a swiss roll as its prior, label-guided (the AAE paper's Figure 4, right).

    python scripts/train_aae.py --config configs/aae_z2_swiss_roll_labels.py \
        --workdir runs/aae_z2_swiss_roll_labels

As configs/aae_z2_mixture_labels.py, with the roll's 10 equal stretches (centre to outer end) as
the labels' regions.
"""

from common import priors
from configs import aae_z2


def get_config():
    config = aae_z2.get_config()
    config.prior = priors.prior_config("swiss_roll", labels=True)
    return config
