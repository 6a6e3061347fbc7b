"""Trains the semi-supervised AAE (or its clustering, or its supervised baseline):

    python scripts/train_aae_semi.py --config configs/aae_semi_100.py --workdir runs/aae_semi_100

Override any config field: --config.num_epochs=3 --config.data.dir=FOLDER. Running again with
the same workdir resumes; --fresh starts over.
"""

import os

from absl import app, flags

from common import cli

CONFIG = cli.define_train_flags(
    os.path.join(os.path.dirname(__file__), "..", "configs", "aae_semi_100.py")
)


def main(argv):
    del argv
    cli.start_distributed_if_asked()
    cli.enable_compilation_cache()
    from aae.semi_train import SemiAAETrainer  # after flag parsing: --help stays fast

    with cli.one_line_errors():
        trainer = SemiAAETrainer(CONFIG.value)
        trainer.train_and_evaluate(flags.FLAGS.workdir, fresh=flags.FLAGS.fresh)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
