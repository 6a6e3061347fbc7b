"""The baseline of configs/aae_semi_100.py: the same encoder and classification phase on the same
100 labelled images, without the reconstruction and adversarial phases.

    python scripts/train_aae.py --config aae_semi_100_supervised --workdir runs/supervised_100

The same seed picks the same 100 images (10 of each digit), and an epoch is as many
classification steps as the semi-supervised run's. Expected: a clearly higher test error than
aae_semi_100 (the difference is what the 53,900 unlabelled images bring); it stops improving
within a few epochs, once it has learnt the 100 labels by heart. Its decoder and discriminators
are never trained: its reconstructions and samples are noise.
"""

from configs import aae_semi_100


def get_config():
    config = aae_semi_100.get_config()
    config.task = "supervised"
    return config
