"""Unsupervised clustering with the AAE, 16 clusters (the AAE paper's section 6, Table 3:
9.55 (+-2.05) % test error).

    python scripts/train_aae.py --config aae_cluster_16 --workdir runs/aae_cluster_16

configs/aae_semi_100.py without the classification phase, y read as 16 clusters: training sees
no label. After each epoch every cluster takes the label of the validation image it is surest
of (the largest q(y = k|x)), and `val_error` is the error of those labels on the validation
split; `test_error` scores the test split with the validation split's assignment, at the best
validation epoch. Target: at most 12 % test error. Writes cluster_grid.png: each cluster's
surest test images, a row each, with the cluster's label. Time: as configs/aae_semi_100.py's
less the classification step, about an hour for 20 epochs.

The generator warms up (300 steps) and then runs at 1e-3: with no labels to anchor y, the
categorical adversary pushes every image's y to the same one-hot unless the reconstruction has
first made y depend on the image; after that, the higher rate makes y nearly one-hot.
"""

from configs import aae_semi_100


def get_config():
    config = aae_semi_100.get_config()
    config.task = "clustering"
    config.num_classes = 16
    config.optimizers.gen.update(learning_rate=1e-3, warmup_steps=300)
    return aae_semi_100.set_epochs(config, 20)
