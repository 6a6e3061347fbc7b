"""What the pictures show: the test split (validation without one), and batched encodings."""

import numpy as np

from common import input_pipeline
from common.train import pictures


def dataset(with_test: bool) -> input_pipeline.Dataset:
    images = np.arange(5 * 784, dtype=np.uint8).reshape(5, 28, 28, 1)
    labels = np.arange(5)
    test = (images[:2], labels[:2]) if with_test else (None, None)
    return input_pipeline.Dataset(images, labels, images[2:], labels[2:], *test, source="x")


def test_the_pictures_show_the_test_split_or_the_validation_split_without_one():
    shown = pictures.Shown.of(dataset(with_test=True))
    assert shown.split == "test" and len(shown.images) == 2
    shown = pictures.Shown.of(dataset(with_test=False))
    assert shown.split == "val" and len(shown.images) == 3 and list(shown.labels) == [2, 3, 4]


def test_batched_covers_every_image_in_order():
    images = np.arange(7)[:, None]
    out = pictures.batched(lambda params, x: x * params, 2, images, batch_size=3)
    np.testing.assert_array_equal(out, images * 2)


class _Writer:
    def __init__(self, rows):
        self.rows = rows

    def history(self):
        return self.rows


def test_curves_start_at_epoch_1_in_words_with_the_untrained_epoch_in_a_note(monkeypatch):
    from aae.train import AAETrainer
    from vae.train import VAETrainer

    rows = [{"epoch": e, "train_bpd": 4.0 / (e + 1), "val_bpd": 4.0 / (e + 1)} for e in range(4)]
    rows[0] = {"epoch": 0, "val_bpd": 4.0}
    drawn = {}
    monkeypatch.setattr(pictures.plotting, "save_curves", lambda *args: drawn.update(args=args))
    shows = pictures.Pictures.__new__(pictures.Pictures)  # only write_curves is called
    shows.trainer, shows.workdir = VAETrainer, "w"
    shows.writer = _Writer(rows + [{"test_bpd": 1.1}])
    shows.write_curves()
    _, panels, title, note = drawn["args"]
    ((ylabel, series, lines),) = panels
    assert "_" not in "".join(series) + "".join(lines) + ylabel  # words, not metric keys
    assert all(x == [1, 2, 3] for x, _ in series.values())  # epoch 0 is not drawn ...
    assert "4" in note and "epoch 0" in note  # ... but given
    assert list(lines.values()) == [1.1]
    shows.trainer = AAETrainer  # the losses and the discriminator's accuracy on their own axes
    shows.writer = _Writer([{"epoch": 1, "train_recon_loss": 0.1, "train_disc_accuracy": 0.6}])
    shows.write_curves()
    ylabels = [p[0] for p in drawn["args"][1]]
    assert len(ylabels) == 3 and "accuracy" in ylabels[2] and "MSE" in ylabels[0]


def test_curves_are_drawn_at_sample_epochs_and_otherwise_at_most_every_curves_every_s(
    monkeypatch,
):
    import types

    clock = [100.0]
    monkeypatch.setattr(pictures.time, "monotonic", lambda: clock[0])
    shows = pictures.Pictures.__new__(pictures.Pictures)  # only epoch_end's choice is tested
    shows.config = types.SimpleNamespace(sample_epochs=(0, 5), num_samples=1)
    shows.writer, shows._curves_drawn = _Writer([]), -np.inf
    drawn = []
    shows.later = lambda write, epoch, *rest: drawn.append(epoch)
    shows.sample_grids = shows.decode = shows.encode = lambda *a: np.zeros((1, 28, 28, 1))
    shows.sample_key, shows.digits = None, np.zeros((1, 28, 28, 1))
    for epoch in range(1, 5):  # short epochs: the first, then none within CURVES_EVERY_S
        shows.epoch_end(None, epoch)
        clock[0] += 1.0
    shows.epoch_end(None, 5)  # a sample epoch: always
    clock[0] += pictures.CURVES_EVERY_S
    shows.epoch_end(None, 6)  # long enough since: again
    assert drawn == [1, 5, 6]
