"""What a run shows besides its numbers: sample grids, reconstructions, curves, interpolations,
the latent scatter and the model's own final pictures (the VAE's manifold).

`Pictures` is built once per run from a trainer's hooks (`encode`, `decode`, `sample_grids`,
`model_pictures`, its `curves`); the training loop calls `epoch_end` after every epoch and
`run_end` once at the end. File names come from `common.run_files`; every grid also goes to
TensorBoard.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from common import images, input_pipeline, latents, run_files
from common.metric_writer import MetricWriter

if TYPE_CHECKING:
    from common.trainer import Trainer

INTERPOLATION_STEPS = 10  # columns of the interpolation grid
PRIOR_DRAWS = 20_000  # the latent scatter's picture of the prior's density


@dataclasses.dataclass(frozen=True)
class Curves:
    """The per-epoch plot a trainer draws from its metric rows."""

    file: str  # a run_files name, e.g. run_files.BPD_CURVE
    title: str
    ylabel: str
    keys: tuple[str, ...]  # metric keys, one curve each
    final: str  # key of the final row drawn as a horizontal line (e.g. "test_bpd")


class Shown(NamedTuple):
    """The split the pictures show: the test split, or the validation split without one."""

    images: np.ndarray  # uint8 [N, 28, 28, 1]
    labels: np.ndarray | None  # int [N]
    split: str  # "test" or "val"

    @classmethod
    def of(cls, data: input_pipeline.Dataset) -> Shown:
        if data.test_images is not None:
            return cls(data.test_images, data.test_labels, "test")
        return cls(data.val_images, data.val_labels, "val")


class Pictures:
    """A run's pictures, their functions compiled once.

    Args:
      trainer: whose hooks draw (common.trainer.Trainer).
      data: the run's data; the pictures show its test split, or the validation split without
        one (`Shown.of`): the first digit of each label 0..7 (the "digits") is reconstructed at
        the sample epochs and interpolated between at the end; the latent scatter shows the
        codes of the whole split.
      sample_key: the fixed prior draws of every epoch's sample grids.
      workdir: where the PNGs go.
      writer: where their TensorBoard copies go.
    """

    def __init__(
        self,
        trainer: Trainer,
        data: input_pipeline.Dataset,
        sample_key: jax.Array,
        workdir: str,
        writer: MetricWriter,
    ):
        self.trainer, self.config = trainer, trainer.config
        self.data, self.shown, self.sample_key = data, Shown.of(data), sample_key
        self.workdir, self.writer = workdir, writer
        self.digits, _ = images.pick_digits(self.shown.images, self.shown.labels)  # uint8 [8, ...]
        self.sample_grids = jax.jit(trainer.sample_grids, static_argnums=2)
        self.encode = jax.jit(trainer.encode)
        self.decode = jax.jit(trainer.decode)

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def epoch_end(self, params: Any, epoch: int) -> None:
        """At the sample epochs: sample grids of the fixed prior draws and the digits over their
        reconstructions; every epoch: the curves."""
        if epoch in self.config.sample_epochs:
            grids = self.sample_grids(params, self.sample_key, self.config.num_samples)
            for tag, grid in grids.items():
                path = self.path(run_files.samples(epoch, tag.removeprefix("samples")))
                images.write_grid(grid, path, self.writer, tag, epoch)
            decoded = np.asarray(self.decode(params, self.encode(params, self.digits)))
            pairs = np.concatenate([self.digits / 255.0, decoded])
            path = self.path(run_files.reconstructions(epoch))
            images.write_grid(pairs, path, self.writer, "reconstructions", epoch, len(self.digits))
        self.write_curves()

    def run_end(self, params: Any, epoch: int) -> None:
        """The curves with the final row; the interpolation grid (rows: digit pairs 0 -> 1,
        2 -> 3, ...; columns: the decoded codes on the straight line between theirs); with z_dim
        2 the latent scatter of the shown split over the prior's density; then the model's own
        pictures (of the run's data, from the same draws every time)."""
        self.write_curves()
        z = np.asarray(self.encode(params, self.digits))
        line = latents.interpolate(z[0::2], z[1::2], INTERPOLATION_STEPS)
        decoded = np.asarray(self.decode(params, line.reshape(-1, z.shape[-1])))
        path = self.path(run_files.INTERPOLATION)
        images.write_grid(decoded, path, self.writer, "interpolation", epoch, INTERPOLATION_STEPS)
        if self.config.z_dim == 2:
            prior = self.trainer.prior
            images.write_latent_scatter(
                self.path(run_files.LATENT_SCATTER),
                batched(self.encode, params, self.shown.images),
                self.shown.labels,
                f"{self.trainer.kind}: codes of the {self.shown.split} images, {prior.name} prior",
                np.asarray(prior.sample(jax.random.fold_in(self.sample_key, 2), PRIOR_DRAWS)),
            )
        model_key = jax.random.fold_in(self.sample_key, 3)
        for name, picture in self.trainer.model_pictures(params, self.data, model_key).items():
            images.save_image(picture, self.path(name))
            self.writer.write_image(epoch, os.path.splitext(name)[0], picture)

    def write_curves(self) -> None:
        """The trainer's curves of the metric rows written so far, and the final row's line."""
        history = self.writer.history()
        rows = [r for r in history if "epoch" in r]
        final = next((r for r in history if "epoch" not in r), {})
        curves = self.trainer.curves
        xy = {
            key: ([r["epoch"] for r in rows if key in r], [r[key] for r in rows if key in r])
            for key in curves.keys
        }
        images.save_curves(
            self.path(curves.file),
            xy,
            ylabel=curves.ylabel,
            title=curves.title,
            hlines={curves.final: final[curves.final]} if curves.final in final else None,
        )


def batched(fn, params: Any, images_u8: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """fn(params, batch) over `images_u8` in batches, concatenated as numpy."""
    out = [
        np.asarray(fn(params, images_u8[i : i + batch_size]))
        for i in range(0, len(images_u8), batch_size)
    ]
    return np.concatenate(out)
