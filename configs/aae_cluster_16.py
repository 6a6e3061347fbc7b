"""Unsupervised clustering with the AAE, 16 clusters (the AAE paper's section 6, Table 3:
9.55 (+-2.05) % test error).

    python scripts/train_aae.py --config aae_cluster_16 --workdir runs/aae_cluster_16

configs/aae_semi_100.py without the classification phase, y read as 16 clusters: training sees
no label. After each epoch every cluster takes the label of the validation image it is surest
of (the largest q(y = k|x)), and `val_error` is the error of those labels on the validation
split; `test_error` scores the test split with the validation split's assignment, at the best
validation epoch. Target: at most 12 % test error. Writes cluster_grid.png: each cluster's
surest test images, a row each, with the cluster's label. Time: 20 epochs of about 43 s, 15
minutes, on a 2-core Intel Xeon.

The generator warms up (300 steps) and then runs at 1e-3: with no labels to anchor y, the
categorical adversary pushes every image's y to the same one-hot unless the reconstruction has
first made y depend on the image; after that, the higher rate makes y nearly one-hot.

Two settings part from the paper's scheme. With the semi-supervised configs' z of 2 and the
paper's phases alone, 20 epochs left 6 of the 16 clusters unused and 46.89 % test error: the
decoder wanted more style than z held and took it from a soft y, and the class discriminator,
which sees one y at a time, stayed right about the used clusters (accuracy 0.73-0.89) without
ever showing the encoder the way to the unused ones. A z of 8 holds the style, and
`class_balance_weight` 1 adds the batch's KL(mean q(y|x) || uniform) to the generator phase
(aae/semi_losses.py). Probes of 5 epochs (full MNIST, seed 42), validation error at epoch 2:
the paper's phases 63.9 % (5 clusters in use), z 5 51.2 % (7), the balance term 53.2 % (13),
both with z 8 36.8 % (16); the generator at 3e-3 instead put every image in one cluster.
"""

from configs import aae_semi_100


def get_config():
    config = aae_semi_100.get_config()
    config.task = "clustering"
    config.num_classes = 16
    config.optimizers.gen.update(learning_rate=1e-3, warmup_steps=300)
    config.z_dim = 8  # the style the decoder needs, so that y is left the digit
    config.class_balance_weight = 1.0  # every cluster in use (see the docstring)
    return config
