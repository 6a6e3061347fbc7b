"""What both models share. `load(workdir)` gives a trained model back (common/train/kinds.py)."""


def load(workdir: str, epoch: int | None = None):
    """The trained model in `workdir` (any VAE, AE or AAE run, semi-supervised too) at `epoch`
    (None: the newest checkpoint that restores): `.encode(images)`, `.decode(z)`,
    `.sample(key, num)`, `.reconstruct(images)`, `.config`, `.epoch` (common.train.kinds.Model)."""
    from common.train import kinds  # imported when called: `import common` stays light

    return kinds.load(workdir, epoch)
