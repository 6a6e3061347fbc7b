"""The AAE, z_dim 2, mixture of 10 2-D Gaussians, label-guided (the AAE paper's Figure 4, left).

    python scripts/train_aae.py --config aae_z2_mixture_labels --workdir runs/aae_z2_mixture_labels

configs/aae_z2_mixture.py with labels, as the paper: a fifth of the training images keeps its
label (the paper's 10,000 of 50,000; 10,800 of the full MNIST's 54,000), and the discriminator
sees each code with its label's one-hot (or "no label"), so each digit should settle in its own
component (val_code_own_region: the share that does; 0.1 by chance).
configs/aae_z2_mixture_all_labels.py labels every image.
"""

from configs import aae_z2_mixture


def get_config():
    config = aae_z2_mixture.get_config()
    config.prior.labels = True
    return config
