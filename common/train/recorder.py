"""Where a run's epochs go: the metrics row, the pictures and the checkpoint of each; and the
stopwatch of where its seconds went."""

from __future__ import annotations

from typing import Any

import ml_collections

from common import parallel
from common.train import checkpoint, helpers, pictures
from common.train.checkpoint import Progress
from common.train.metric_writer import MetricWriter


class Recorder:
    """A run's outputs while it trains (`close` them however it ends); `progress` and `resumed`
    as resume.start gives them; metrics, pictures and checkpoints add their seconds to `watch`."""

    def __init__(
        self,
        trainer: Any,
        data: Any,
        sample_key: Any,
        workdir: str,
        progress: Progress,
        resumed: bool,
        watch: helpers.Stopwatch,
    ):
        self.config: ml_collections.ConfigDict = trainer.config
        self.monitor: str | None = trainer.monitor
        self.watch = watch
        self.manager = checkpoint.make_manager(workdir, self.config.checkpoint_epochs, self.monitor)
        self.writer = MetricWriter(
            workdir, progress.epoch if resumed else None, enabled=parallel.is_main_process()
        )
        self.pictures = pictures.Pictures(trainer, data, sample_key, workdir, self.writer)
        self.closed = False
        if not resumed:
            self.writer.write_hparams(self.config.to_dict())

    def end_epoch(
        self, epoch: int, state: Any, metrics: dict[str, float], progress: Progress
    ) -> Progress:
        """Writes the epoch's metrics row, pictures and, when it is time, checkpoint: the
        progress after it. The checkpoint comes last: a run stopped before it resumes from the
        epoch before and writes this epoch's row and pictures again."""
        with self.watch("metrics"):
            self.writer.write_scalars(epoch, metrics)
        with self.watch("pictures"):
            self.pictures.epoch_end(state.params, epoch)
        progress = progress.after(epoch, metrics.get(self.monitor) if self.monitor else None)
        c = self.config
        if helpers.is_checkpoint_epoch(
            epoch,
            every=c.checkpoint_every,
            last=c.num_epochs,
            milestones=c.checkpoint_epochs,
            best=progress.best_epoch,
        ):
            self.save(state, progress, metrics)
        return progress

    def save(self, state: Any, progress: Progress, metrics: dict[str, float]) -> None:
        """Saves the checkpoint of progress.epoch in the background (the next epoch trains)."""
        value = metrics.get(self.monitor) if self.monitor else None
        with self.watch("checkpoints"):
            checkpoint.save(
                self.manager, state, progress, None if value is None else {self.monitor: value}
            )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best(self, state: Any, progress: Progress) -> tuple[Any, Progress]:
        """The state of the best epoch (checkpoint.restore_best), the saves finished first."""
        with self.watch("checkpoints"):
            self.manager.wait_until_finished()
            return checkpoint.restore_best(self.manager, state, progress)

    def finish(self) -> None:
        """Waits for the pictures and the checkpoints being written."""
        with self.watch("pictures"):
            self.pictures.wait()
        with self.watch("checkpoints"):
            self.manager.wait_until_finished()

    def close(self) -> None:
        """Finishes what is being written (however the run ends), then closes the files."""
        if self.closed:
            return
        self.closed = True
        try:
            with self.watch("pictures"):
                self.pictures.close()
        finally:
            try:
                with self.watch("checkpoints"):
                    self.manager.wait_until_finished()
                    self.manager.close()
            finally:
                self.writer.close()
