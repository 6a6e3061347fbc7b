"""Trains the VAE: python scripts/train_vae.py --config configs/vae.py --workdir runs/vae

Override any config field: --config.num_epochs=3 --config.data.dir=FOLDER. Running again with
the same workdir resumes; --fresh starts over.
"""

import os

from common import cli

if __name__ == "__main__":
    cli.train_main("vae.train", os.path.join(os.path.dirname(__file__), "..", "configs", "vae.py"))
