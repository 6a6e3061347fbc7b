"""Trains the AAE: python scripts/train_aae.py --config configs/aae.py --workdir runs/aae

Override any config field: --config.num_epochs=3 --config.data.dir=FOLDER. Running again with
the same workdir resumes; --fresh starts over.
"""

import os

from absl import app, flags

from common import cli

CONFIG = cli.define_train_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "aae.py"))


def main(argv):
    del argv
    cli.start_distributed_if_asked()
    cli.enable_compilation_cache()
    from aae.train import AAETrainer  # after flag parsing: --help stays fast

    with cli.one_line_errors():
        AAETrainer(CONFIG.value).train_and_evaluate(flags.FLAGS.workdir, fresh=flags.FLAGS.fresh)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
