"""Semi-supervised AAE, 100 labels (the AAE paper's section 5, Table 2): the base of the
semi-supervised and clustering configs.

    python scripts/train_aae.py --config aae_semi_100 --workdir runs/aae_semi_100

Full MNIST (54,000 train / 6,000 validation / 10,000 test), 100 of the training images labelled
(10 of each digit, fixed by the seed). Paper: 1.90 (+-0.10) % test error with fully connected
networks and thousands of epochs; target here: at most 3 % (`test_error`, of the best
validation epoch) in about an hour on 2 CPU cores. Against configs/aae_semi_100_supervised.py
(the same encoder on the same 100 labels alone) the unlabelled images should lower the error.

Time: 24 epochs of 540 steps. A step took 0.29 s on 2 CPU cores shared with other work (load
about 6): 2.7 minutes an epoch with its evaluation, 65 minutes in all; a quiet machine should
take about half. Status: not tuned. A first check (8 epochs of 10,800 training images) stayed
at 26 to 35 % validation error after epoch 2: the style discriminator won (accuracy 0.99, the
codes far from N(0, I)), and the decoder read the digit from z rather than y.

Optimisation: one Adam per phase. The paper trains every phase with momentum SGD on stepped
learning-rate schedules over thousands of epochs; an hour allows tens of epochs, and Adam (b1
0.5 for the adversarial game and the autoencoder, as configs/aae.py's) needs no search for
each phase's rate to train at all. Every learning rate drops tenfold for the last third of the
epochs (`decay_steps`). "sgd" with `momentum` is there for the paper's setting.
"""

import ml_collections

STEPS_PER_EPOCH = 54_000 // 100  # full MNIST's training split in batches of 100
NUM_EPOCHS = 24
DECAY = (2 * NUM_EPOCHS // 3 * STEPS_PER_EPOCH,)  # steps at which the learning rates drop


def optimizer(name, learning_rate, b1=0.9, b2=0.999, momentum=0.0, warmup_steps=0, decay=DECAY):
    """An optimizer's settings: the learning rate rises linearly from 0 over warmup_steps, and
    is multiplied by decay_factor at each step of decay_steps."""
    return ml_collections.ConfigDict(
        dict(
            name=name,  # "adam" or "sgd"
            learning_rate=learning_rate,
            b1=b1,  # adam
            b2=b2,  # adam
            momentum=momentum,  # sgd; 0: none
            warmup_steps=warmup_steps,
            decay_steps=decay,
            decay_factor=0.1,
        )
    )


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = "aae_semi"
    config.seed = 42  # the one root of every PRNG key, and of which images keep their labels

    # Task: "semi_supervised" (reconstruction, both adversarial phases, classification),
    # "clustering" (no classification phase: training never sees a label) or "supervised"
    # (the classification phase alone: the baseline).
    config.task = "semi_supervised"
    config.num_classes = 10  # K, the categorical code: the digits, or the number of clusters
    config.num_labels = 100  # labelled training images, as many of each class; 0 = all
    config.labelled_batch_size = 100  # labelled images per classification step (drawn anew)

    # Model.
    config.z_dim = 10  # the style code
    config.num_filters = 32
    config.disc_hidden = 512  # both discriminators' hidden layers
    # Gaussian noise on the encoder's input in training, on [-1, 1] pixels: on 4,500 rendered
    # digits with 30 labels, 0.5 gave 57 % validation error where 0.3 gave 66 % (15 epochs).
    config.input_noise_std = 0.5
    config.conv_impl = "auto"  # see common/nets.py

    # Optimisation: one optimizer per phase. The autoencoder warms up over its first 100 steps
    # (configs/aae.py: without, the autoencoder can collapse in its first steps).
    config.optimizers = ml_collections.ConfigDict()
    config.optimizers.recon = optimizer("adam", 1e-3, b1=0.5, warmup_steps=100)
    config.optimizers.disc = optimizer("adam", 2e-4, b1=0.5)  # both discriminators
    config.optimizers.gen = optimizer("adam", 2e-4, b1=0.5)  # the encoder against both
    config.optimizers.classify = optimizer("adam", 1e-3)
    config.batch_size = 100  # unlabelled images per step
    config.num_epochs = NUM_EPOCHS

    # Data (pixels scaled to [-1, 1]).
    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist"  # tfds name: mnist or fashion_mnist
    config.data.dir = ""  # folder of IDX files; "" = tensorflow-datasets
    config.data.split_seed = 42
    config.data.limit = 0  # train on N images (the first of the seeded split); 0 = all

    # Evaluation, pictures, checkpoints.
    config.eval_batch_size = 500
    config.checkpoint_epochs = (0, 8, 16, NUM_EPOCHS)
    config.checkpoint_every = 1
    config.sample_epochs = (0, 8, NUM_EPOCHS)
    config.num_samples = 64
    return config
