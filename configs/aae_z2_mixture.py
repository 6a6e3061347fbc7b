"""The AAE, z_dim 2, with a mixture of 10 2-D Gaussians as its prior (the AAE paper's Figure 2).

    python scripts/train_aae.py --config configs/aae_z2_mixture.py --workdir runs/aae_z2_mixture

Only the discriminator's "real" codes change; without labels nothing says which digit goes to
which component. The paper's three-phase scheme with lambda 0.5, so the generator's phase steps as
far as the reconstruction's: at lambda 0.995 the codes fit the mixture loosely and labels did not
move them. docs/priors.md has the numbers.
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
