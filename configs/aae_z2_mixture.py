"""The AAE, z_dim 2, with a mixture of 10 2-D Gaussians as its prior (the AAE paper's Figure 2).

    python scripts/train_aae.py --config configs/aae_z2_mixture.py --workdir runs/aae_z2_mixture

Only the discriminator's "real" codes change (draws of the mixture instead of N(0, I)); without
labels nothing says which digit goes to which component. The AAE paper's update scheme (a
reconstruction, a discriminator and a generator phase, each with its own optimizer) with lambda
0.5, so that the generator's phase steps as far as the reconstruction's: at the assignment's
lambda 0.995 the codes fitted the mixture loosely in our trials, and labels never won against the
reconstruction (configs/aae_z2_mixture_labels.py). docs/priors.md has the measured numbers.
"""

from common import priors
from configs import aae_z2


def get_config():
    config = aae_z2.get_config()
    config.prior = priors.prior_config("mixture")
    config.update_scheme = "three_phase"
    config.lambda_ = 0.5
    config.num_epochs = 50
    return config
