"""configs/aae_z2_mixture_labels.py with every training image labelled.

    python scripts/train_aae.py --config aae_z2_mixture_all_labels \
        --workdir runs/aae_z2_mixture_all_labels

On the 9,000 images of the MNIST t10k files a fifth (1,800 images) did not move the codes to
their components, every image did: docs/priors.md has both on the full MNIST.
"""

from configs import aae_z2_mixture_labels


def get_config():
    config = aae_z2_mixture_labels.get_config()
    config.prior.labelled_share = 1.0
    return config
