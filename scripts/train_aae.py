"""Trains the AAE: python scripts/train_aae.py --config configs/aae.py --workdir runs/aae

Override any config field: --config.num_epochs=3 --config.data.dir=FOLDER. Running again with
the same workdir resumes; --fresh starts over.
"""

import os

from common import cli

if __name__ == "__main__":
    cli.train_main("aae.train", os.path.join(os.path.dirname(__file__), "..", "configs", "aae.py"))
