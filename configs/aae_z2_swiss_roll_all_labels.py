"""configs/aae_z2_swiss_roll_labels.py with every training image labelled.

    python scripts/train_aae.py --config aae_z2_swiss_roll_all_labels \
        --workdir runs/aae_z2_swiss_roll_all_labels
"""

from configs import aae_z2_swiss_roll_labels


def get_config():
    config = aae_z2_swiss_roll_labels.get_config()
    config.prior.labelled_share = 1.0
    return config
