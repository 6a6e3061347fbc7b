"""Unsupervised clustering with the AAE, 30 clusters (the AAE paper's Table 3: 4.10 (+-1.13) %
test error).

    python scripts/train_aae.py --config aae_cluster_30 --workdir runs/aae_cluster_30

configs/aae_cluster_16.py with 30 clusters: more clusters than digits let each digit's styles
take clusters of their own, and the assignment merges them.
"""

from configs import aae_cluster_16


def get_config():
    config = aae_cluster_16.get_config()
    config.num_classes = 30
    return config
