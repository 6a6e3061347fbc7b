"""The AAE, z_dim 2, a swiss roll as its prior, label-guided (the AAE paper's Figure 4, right).

    python scripts/train_aae.py --config aae_z2_swiss_roll_labels \
        --workdir runs/aae_z2_swiss_roll_labels

configs/aae_z2_mixture_labels.py with the roll instead of the mixture: its 10 equal stretches
(from the centre to the outer end) are the labels' regions; a fifth of the images labelled.
"""

from configs import aae_z2_mixture_labels


def get_config():
    config = aae_z2_mixture_labels.get_config()
    config.prior.name = "swiss_roll"
    return config
