"""Semi-supervised AAE, 1,000 labels (the AAE paper's Table 2: 1.60 (+-0.08) % test error).

    python scripts/train_aae.py --config aae_semi_1000 --workdir runs/aae_semi_1000

configs/aae_semi_100.py with 100 labelled images of each digit. Target: at most 2 % test error.
"""

from configs import aae_semi_100


def get_config():
    config = aae_semi_100.get_config()
    config.num_labels = 1000
    return config
