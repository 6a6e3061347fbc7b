"""Semi-supervised AAE, every training image labelled (the AAE paper's Table 2: 0.85 (+-0.02) %
test error with all of MNIST's labels).

    python scripts/train_aae.py --config aae_semi_all --workdir runs/aae_semi_all

configs/aae_semi_100.py with all 54,000 training images labelled (num_labels 0): the
classification phase draws its mini-batches from the whole training split, the other phases
still run. Target: at most 1 % test error.
"""

from configs import aae_semi_100


def get_config():
    config = aae_semi_100.get_config()
    config.num_labels = 0
    return config
