"""What a run shows besides its numbers: sample grids, reconstructions, curves, interpolations,
the latent scatter and the model's own pictures, drawn with a trainer's `Hooks` (`epoch_end`
after every epoch, `run_end` once). Every grid also goes to TensorBoard.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from concurrent import futures
from typing import Any, ClassVar, NamedTuple, Protocol

import jax
import numpy as np

from common import input_pipeline, latents, plotting
from common.shapes import Codes, ImagesU8, UnitImages
from common.train import run_files
from common.train.metric_writer import MetricWriter

INTERPOLATION_STEPS = 10  # columns of the interpolation grid
PRIOR_DRAWS = 20_000  # the latent scatter's picture of the prior's density
CURVES_EVERY_S = 30.0  # between sample epochs, the curves are redrawn at most this often


@dataclasses.dataclass(frozen=True)
class Panel:
    """One panel of the per-epoch plot: its y axis and the metrics drawn on it."""

    ylabel: str
    series: tuple[tuple[str, str], ...]  # (metric key, legend): a curve each, epochs 1, 2, ...
    final: tuple[str, str] | None = None  # (key of the final row, legend): a dashed line


@dataclasses.dataclass(frozen=True)
class Curves:
    """A trainer's per-epoch plot, panels sharing the epoch axis; epoch 0 is a note, not drawn
    (it would set the axis' range)."""

    file: str  # a run_files name, e.g. run_files.BPD_CURVE
    title: str
    panels: tuple[Panel, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for panel in self.panels for key, _ in panel.series)


class Hooks(Protocol):
    """What the pictures take of a trainer (common.train.trainer.Trainer has them all)."""

    kind: ClassVar[str]
    curves: ClassVar[Curves]
    sample_texts: ClassVar[dict[str, str]]  # sample_grids' keys -> what their pixels are
    config: Any
    prior: Any

    def encode(self, params: Any, images: ImagesU8) -> Codes: ...

    def decode(self, params: Any, z: Codes) -> UnitImages: ...

    def sample_grids(self, params: Any, key: jax.Array, num: int) -> dict[str, UnitImages]: ...

    def model_pictures(
        self, params: Any, data: input_pipeline.Dataset, key: jax.Array
    ) -> dict[str, tuple[np.ndarray, str | None]]: ...


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
    """A run's pictures, their functions compiled once. They show `Shown.of(data)`: the first
    image of each label 0..7 (the "digits") is reconstructed at the sample epochs and
    interpolated at the end; the latent scatter shows the whole split. `sample_key` fixes every
    epoch's prior draws; `writer` gets the TensorBoard copies."""

    def __init__(
        self,
        trainer: Hooks,
        data: input_pipeline.Dataset,
        sample_key: jax.Array,
        workdir: str,
        writer: MetricWriter,
    ):
        self.trainer, self.config = trainer, trainer.config
        self.data, self.shown, self.sample_key = data, Shown.of(data), sample_key
        self.workdir, self.writer = workdir, writer
        self.digits, self.digit_labels = plotting.pick_digits(self.shown.images, self.shown.labels)
        self.sample_grids = jax.jit(trainer.sample_grids, static_argnums=2)
        self.encode = jax.jit(trainer.encode)
        self.decode = jax.jit(trainer.decode)
        # The files are written by a thread of their own while the next epoch trains: drawing
        # and compressing PNGs takes longer than computing what they show.
        self._worker = futures.ThreadPoolExecutor(1, thread_name_prefix="pictures")
        self._pending: futures.Future | None = None
        self._curves_drawn = -math.inf  # time.monotonic() of the last curves

    def later(self, write, *args) -> None:
        """Runs `write(*args)` on the pictures' thread once the one before is done (its error,
        a full disk say, is raised here)."""
        self.wait()
        self._pending = self._worker.submit(write, *args)

    def wait(self) -> None:
        """Waits for the pictures being written; raises what writing them raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._worker.shutdown()

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def title(self, epoch: int, what: str) -> str:
        return f"{self.trainer.kind}, epoch {epoch}: {what}"

    def epoch_end(self, params: Any, epoch: int) -> None:
        """At the sample epochs: sample grids of the fixed prior draws and the digits over their
        reconstructions, and the curves; between them the curves when CURVES_EVERY_S have passed
        since they were last drawn (every epoch of a long one; drawing them is about 0.1 s of a
        core, which short epochs would pay each time)."""
        grids, pairs = {}, None
        sample_epoch = epoch in self.config.sample_epochs
        if sample_epoch:  # computed here, written on the pictures' thread
            grids = jax.device_get(
                self.sample_grids(params, self.sample_key, self.config.num_samples)
            )
            decoded = np.asarray(self.decode(params, self.encode(params, self.digits)))
            pairs = np.concatenate([self.digits / 255.0, decoded])
        if sample_epoch or time.monotonic() - self._curves_drawn >= CURVES_EVERY_S:
            self._curves_drawn = time.monotonic()
            self.later(self._write_epoch, epoch, grids, pairs, self.writer.history())

    def _write_epoch(self, epoch: int, grids: dict, pairs: np.ndarray | None, rows: list) -> None:
        for tag, grid in grids.items():
            path = self.path(run_files.samples(epoch, tag.removeprefix("samples")))
            what = f"{len(grid)} samples, {self.trainer.sample_texts.get(tag, tag)}"
            plotting.write_grid(grid, path, self.title(epoch, what), self.writer, tag, epoch)
        if pairs is not None:
            path = self.path(run_files.reconstructions(epoch))
            title = self.title(epoch, f"{self.shown.split} digits (top) over their reconstructions")
            plotting.write_grid(
                pairs, path, title, self.writer, "reconstructions", epoch, len(self.digits)
            )
        self.write_curves(rows)

    def run_end(self, params: Any, epoch: int, final: dict[str, float]) -> None:
        """The curves with the final row; the interpolation grid (rows: digits 0 -> 1, 2 -> 3,
        ...; columns: decoded codes on the line between theirs); with z_dim 2 the latent scatter
        over the prior's density; the model's own pictures (the same draws every time)."""
        self.wait()
        self.write_curves([*self.writer.history(), final])
        z = np.asarray(self.encode(params, self.digits))
        line = latents.interpolate(z[0::2], z[1::2], INTERPOLATION_STEPS)
        decoded = np.asarray(self.decode(params, line.reshape(-1, z.shape[-1])))
        path = self.path(run_files.INTERPOLATION)
        pairs = "the first digit of labels 0 -> 1, 2 -> 3, 4 -> 5, 6 -> 7"
        if self.digit_labels is None:
            pairs = "digits 1 -> 2, 3 -> 4, 5 -> 6, 7 -> 8"
        title = self.title(epoch, f"decoded codes on the line between the codes of {pairs}")
        plotting.write_grid(
            decoded, path, title, self.writer, "interpolation", epoch, INTERPOLATION_STEPS
        )
        if self.config.z_dim == 2:
            prior = self.trainer.prior
            plotting.write_latent_scatter(
                self.path(run_files.LATENT_SCATTER),
                batched(self.encode, params, self.shown.images),
                self.shown.labels,
                f"{self.trainer.kind}: codes of the {self.shown.split} images, {prior.name} prior",
                np.asarray(prior.sample(jax.random.fold_in(self.sample_key, 2), PRIOR_DRAWS)),
            )
        model_key = jax.random.fold_in(self.sample_key, 3)
        for name, (picture, what) in self.trainer.model_pictures(
            params, self.data, model_key
        ).items():
            if what is None:  # a rendered figure, with its own title
                plotting.save_image(picture, self.path(name))
            else:
                title = self.title(epoch, what)
                plotting.save_image(picture, self.path(name), title, plotting.SCALE)
            self.writer.write_image(epoch, os.path.splitext(name)[0], picture)

    def write_curves(self, history: list[dict] | None = None) -> None:
        """The trainer's curves of `history` (None: the rows so far), with the final row's lines."""
        history = self.writer.history() if history is None else history
        rows = [r for r in history if r.get("epoch", 0) >= 1]
        first = next((r for r in history if r.get("epoch") == 0), {})
        final = next((r for r in history if "epoch" not in r), {})
        panels = []
        for panel in self.trainer.curves.panels:
            series = {
                legend: ([r["epoch"] for r in rows if k in r], [r[k] for r in rows if k in r])
                for k, legend in panel.series
            }
            lines = {}
            if panel.final and panel.final[0] in final:
                lines[panel.final[1]] = final[panel.final[0]]
            panels.append((panel.ylabel, series, lines))
        untrained = [
            f"{legend} {first[k]:.4g}"
            for p in self.trainer.curves.panels
            for k, legend in p.series
            if k in first
        ]
        note = f"epoch 0 (untrained, not drawn): {', '.join(untrained)}" if untrained else None
        plotting.save_curves(
            self.path(self.trainer.curves.file), panels, self.trainer.curves.title, note
        )


def batched(fn, params: Any, images_u8: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """fn(params, batch) over `images_u8` in batches, concatenated as numpy."""
    out = [
        np.asarray(fn(params, images_u8[i : i + batch_size]))
        for i in range(0, len(images_u8), batch_size)
    ]
    return np.concatenate(out)
