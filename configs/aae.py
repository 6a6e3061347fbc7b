"""Adversarial autoencoder, z_dim 8, lambda 0.995 (Question 2.5): the assignment's defaults.

    python scripts/train_aae.py --config configs/aae.py --workdir runs/aae

Expected: reconstruction loss (MSE on [-1, 1] pixels) below 0.05; discriminator accuracy well
below 100% (a game, not a collapse). Writes reconstructions/ and samples/ at epochs 0, 20, 50, 100.
"""

import ml_collections


def _optimizer(name: str, learning_rate: float, b1: float = 0.9, b2: float = 0.999):
    return ml_collections.ConfigDict(dict(name=name, learning_rate=learning_rate, b1=b1, b2=b2))


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = "aae"
    config.seed = 42  # the one root of every PRNG key

    # Model.
    config.z_dim = 8
    config.num_filters = 32
    config.disc_hidden = 512
    config.stochastic_encoder = False  # Question 2.7 recommends True above 8 latent dimensions
    # "auto": convolutions written for XLA:CPU on the CPU, XLA's own elsewhere; "cpu" or "xla"
    # force one (the same function and parameters; see common/nets.py).
    config.conv_impl = "auto"

    # Objective and optimisation.
    config.lambda_ = 0.995  # weight of reconstruction; 1 - lambda_ weighs the adversarial term
    config.update_scheme = "combined"  # or "three_phase" (recon, discriminator, generator)
    config.optimizers = ml_collections.ConfigDict()
    config.optimizers.ae = _optimizer("adam", 1e-3, b1=0.5)  # combined: encoder + decoder
    config.optimizers.disc = _optimizer("sgd", 5e-3)  # discriminator
    config.optimizers.recon = _optimizer("adam", 1e-3, b1=0.5)  # three_phase: encoder + decoder
    config.optimizers.gen = _optimizer("adam", 1e-3, b1=0.5)  # three_phase: encoder
    config.batch_size = 64
    config.num_epochs = 100

    # Data (pixels scaled to [-1, 1]).
    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist"  # tfds name: mnist or fashion_mnist
    config.data.dir = ""  # folder of IDX files; "" = tensorflow-datasets
    config.data.split_seed = 42
    config.data.limit = 0  # keep only the first N training images; 0 = all

    # Evaluation, pictures, checkpoints.
    config.eval_batch_size = 500
    config.checkpoint_epochs = (0, 10, 20, 50, 80, 100)
    config.checkpoint_every = 1
    config.sample_epochs = (0, 20, 50, 100)  # reconstruction and sample grids
    config.num_samples = 64
    return config
