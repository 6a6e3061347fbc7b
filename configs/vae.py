"""VAE on MNIST with the assignment's defaults (Questions 1.7 and 1.8).

    python scripts/train_vae.py --config configs/vae.py --workdir runs/vae

Expected: train bpd starts near 4.0, is below 2.0 after 2 epochs and ends near 0.52 after 80
epochs (the course's reference). Add --config.data.dir=FOLDER to read local IDX files instead of
tfds, and e.g. --config.num_epochs=2 --config.data.limit=5000 for a quick look.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = "vae"
    config.seed = 42  # the one root of every PRNG key (init, z samples, shuffling, sample grids)

    # Model.
    config.z_dim = 20
    config.num_filters = 32  # c: encoder channels c, c, 2c, 2c, 2c
    # "auto": convolutions written for XLA:CPU on the CPU, XLA's own elsewhere; "cpu" or "xla"
    # force one (the same function and parameters; see common/nets.py).
    config.conv_impl = "auto"

    # Optimisation.
    config.learning_rate = 1e-3  # Adam
    config.batch_size = 128
    config.num_epochs = 80

    # Data.
    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist"  # tfds name: mnist or fashion_mnist
    config.data.dir = ""  # folder of IDX files; "" = tensorflow-datasets
    config.data.split_seed = 42  # 54,000 / 6,000 train / validation split
    config.data.limit = 0  # train on N images (the first of the seeded split); 0 = all

    # Evaluation, pictures, checkpoints.
    config.eval_batch_size = 500
    config.checkpoint_epochs = (0, 10, 20, 50, 80, 100)  # kept for good
    config.checkpoint_every = 1  # the "latest" checkpoint, older ones pruned
    config.sample_epochs = (0, 10, 80)  # 8x8 sample grids (Question 1.8)
    config.num_samples = 64
    config.manifold_size = 20  # grid of the z_dim == 2 manifold (Question 1.9)
    return config
