"""Trains a VAE by default, or any config's model (installed: `vae-aae-train`).

    python scripts/train_vae.py --workdir runs/vae [--config vae_z2] [--data_dir FOLDER]

--config takes a config's name (configs/NAME.py) or a file; override any field with
--config.FIELD=VALUE (e.g. --config.num_epochs=3). Running again with the same workdir resumes;
--fresh starts over. Any config trains with its own model's trainer (config.model).
"""

from absl import flags

from common import cli

CONFIG = cli.define_train_flags("vae")


def main(argv):
    del argv
    cli.start_distributed_if_asked()
    cli.enable_compilation_cache()
    from common.train import kinds  # after flag parsing: --help stays fast

    with cli.one_line_errors():
        config = cli.train_config(CONFIG)
        trainer = kinds.trainer_class(config.model)(config)
        trainer.train_and_evaluate(flags.FLAGS.workdir, fresh=flags.FLAGS.fresh)


def run():
    """The installed command."""
    cli.run(main)


if __name__ == "__main__":
    run()
