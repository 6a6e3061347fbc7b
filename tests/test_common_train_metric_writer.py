"""metrics.jsonl and TensorBoard: rows, the final row, resume cut-back, tags, older names."""

import json

import pytest

from common.train import metric_writer


def test_tags_carry_the_split_and_other_keys_stay_out_of_tensorboard():
    assert metric_writer.tensorboard_tag("train_bpd") == "train/bpd"
    assert metric_writer.tensorboard_tag("val_recon_loss") == "val/recon_loss"
    assert metric_writer.tensorboard_tag("test_bpd") == "test/bpd"
    assert metric_writer.tensorboard_tag("seconds") is None
    assert metric_writer.tensorboard_tag("best_epoch") is None


def test_rows_the_final_row_and_a_resume_that_cuts_back(tmp_path):
    writer = metric_writer.MetricWriter(str(tmp_path))
    for epoch in range(4):
        writer.write_scalars(epoch, {"train_bpd": 4.0 - epoch, "seconds": 1.0})
    writer.write_final(3, {"test_bpd": 0.5, "best_epoch": 3})
    writer.close()
    rows = metric_writer.read_metrics(str(tmp_path))
    assert [r.get("epoch") for r in rows] == [0, 1, 2, 3, None]
    assert rows[-1] == {"test_bpd": 0.5, "best_epoch": 3.0}
    # Resuming from the checkpoint of epoch 1 drops what the interrupted run wrote after it.
    metric_writer.cut_back(str(tmp_path), 1)
    assert [r["epoch"] for r in metric_writer.read_metrics(str(tmp_path))] == [0, 1]


def test_rows_of_older_aae_runs_are_read_with_the_split_prefix(tmp_path):
    old = {"epoch": 3, "recon_loss": 0.1, "disc_accuracy": 0.6, "val_recon_loss": 0.2}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(old) + "\n")
    (row,) = metric_writer.read_metrics(str(tmp_path))
    assert row == pytest.approx(
        {"epoch": 3, "train_recon_loss": 0.1, "train_disc_accuracy": 0.6, "val_recon_loss": 0.2}
    )


def test_a_half_written_last_line_is_ignored_and_a_damaged_middle_line_is_an_error(tmp_path):
    from common.errors import CheckpointError

    rows = [json.dumps({"epoch": e, "train_bpd": 1.0}) for e in range(3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(rows) + '\n{"epoch": 3, "tra')
    assert [r["epoch"] for r in metric_writer.read_metrics(str(tmp_path))] == [0, 1, 2]
    metric_writer.cut_back(str(tmp_path), 2)  # the resume rewrites it
    assert (tmp_path / "metrics.jsonl").read_text() == "\n".join(rows) + "\n"
    (tmp_path / "metrics.jsonl").write_text(rows[0] + "\n{oops\n" + rows[1] + "\n")
    with pytest.raises(CheckpointError, match="line 2 is not a metrics row.*delete that line"):
        metric_writer.read_metrics(str(tmp_path))
