"""Every file and folder a workdir holds, named once. `FILES` says what each holds (README's
list is tested against it); `RUN_FILES` is what `--fresh` removes: all but the lock, and their
temporary twins."""

from __future__ import annotations

from common import files

FILES: dict[str, str] = {}  # name (or glob pattern) -> what it holds


def _entry(name: str, what: str) -> str:
    FILES[name] = what
    return name


CONFIG = _entry("config.json", "the config the run was started with")
METRICS = _entry("metrics.jsonl", "one JSON object per epoch, then a final object")
EVENTS_PREFIX = "events"  # tensorboardX names the file PREFIX.out.tfevents.TIME.HOST
EVENTS = _entry(f"{EVENTS_PREFIX}.out.tfevents.*", "TensorBoard scalars and image grids")
CHECKPOINTS = _entry("checkpoints", "orbax checkpoints, one folder per epoch")
DAMAGED_CHECKPOINTS = _entry("damaged_checkpoints", "checkpoints that failed to restore")
LOCK = _entry("run.lock", "held by the run in progress")
SAMPLES = _entry("samples", "sample grids at the sample epochs")
RECONSTRUCTIONS = _entry("reconstructions", "the shown digits over their reconstructions")
BPD_CURVE = _entry("bpd_curve.png", "VAE: bpd per epoch")
LOSS_CURVE = _entry("loss_curve.png", "AAE: losses and discriminator accuracy per epoch")
MANIFOLD = _entry("manifold.png", "VAE with z_dim 2: decoded z on a grid")
LATENT_SCATTER = _entry("latent_scatter.png", "z_dim 2: the encoded digits over the prior")
INTERPOLATION = _entry("interpolation.png", "decoded codes between pairs of digits")
LOG_LIKELIHOOD = _entry("log_likelihood.json", "vae.log_likelihood: importance-weighted log p(x)")
LOG_LIKELIHOOD_TABLE = _entry("log_likelihood.md", "vae.log_likelihood: the same as a table")
PROPOSAL_VARIANCE = _entry("proposal_variance.png", "vae.log_likelihood: both proposals against K")
ERROR_CURVE = _entry("error_curve.png", "semi-supervised AAE: classification error per epoch")
STYLE_GRID = _entry("style_grid.png", "semi-supervised AAE: fixed styles z decoded with each y")
CONFUSION_MATRIX = _entry("confusion_matrix.png", "semi-supervised AAE: labels against predictions")
CLUSTER_GRID = _entry("cluster_grid.png", "AAE clustering: each cluster's surest images")
SAMPLE_QUALITY = _entry(
    "sample_quality.json",
    "common.evaluation.sample_quality: Parzen, FID, coverage by checkpoint epoch",
)
EXPLORER = _entry("explorer", "explore.py: the latent plane explorer page (z 2 runs)")
RECORD = _entry("reproduce.json", "common.experiments.reproduce: one record per session")

# What `--fresh` removes: everything a run writes but the lock (a waiting run may hold it), the
# temporary twins a killed write leaves (common/files.py) and a damaged file set aside.
_RUN_ENTRIES = tuple(n for n in FILES if n != LOCK)
RUN_FILES = (
    _RUN_ENTRIES
    + tuple(files.temporary(n) for n in _RUN_ENTRIES)
    + (f"{SAMPLE_QUALITY}.damaged", ".write-check*")
)


PIXEL_MEANS = "_mean"  # the variant of a VAE's sample grid that shows each pixel's mean
BY_REGION = "_by_region"  # the AAE's grid of each prior region's draws (mixture, swiss roll)


def samples(epoch: int | str, variant: str = "") -> str:
    """samples/epoch_N{variant}.png: the sample grid of `epoch` (variant PIXEL_MEANS: the VAE's
    pixel means of the same draws; BY_REGION: a row per region of the AAE's prior)."""
    return f"{SAMPLES}/epoch_{epoch}{variant}.png"


def restored_samples(epoch: int | str) -> str:
    """samples/restored_epoch_N.png: scripts/sample.py's grid of a restored checkpoint."""
    return f"{SAMPLES}/restored_epoch_{epoch}.png"


def reconstructions(epoch: int | str) -> str:
    """reconstructions/epoch_N.png."""
    return f"{RECONSTRUCTIONS}/epoch_{epoch}.png"
