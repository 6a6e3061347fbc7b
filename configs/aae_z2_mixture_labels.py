"""The AAE, z_dim 2, mixture of 10 2-D Gaussians, label-guided (the AAE paper's Figure 4, left).

    python scripts/train_aae.py --config configs/aae_z2_mixture_labels.py \
        --workdir runs/aae_z2_mixture_labels

A fifth of the training images (config.prior.labelled_share, as the paper's 10,000 of 50,000)
keep their label; the discriminator judges each code with the one-hot of its image's label (or
of "no label"), and a label's real codes come from its own component, so each digit should
settle in its own component (val_code_own_region: the share that does; 0.1 by chance).
"""

from common import priors
from configs import aae_z2


def get_config():
    config = aae_z2.get_config()
    config.prior = priors.prior_config("mixture", labels=True)
    return config
