"""A run's directory: --fresh removes the run's files only, older configs read, refusals."""

import json
import os

import pytest
from conftest import make_tiny_vae_config

from common import workdir
from common.errors import CheckpointError, ConfigError


def test_clear_removes_every_run_file_and_nothing_else(tmp_path):
    for name in ("config.json", "metrics.jsonl", "events.out.tfevents.1.host", "manifold.png",
                 "latent_scatter.png", "log_likelihood.md", "notes.txt", "mine.png"):  # fmt: skip
        (tmp_path / name).write_text("x")
    for folder in ("checkpoints/3", "samples", "reconstructions", "data"):
        os.makedirs(tmp_path / folder)
    workdir.clear(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["data", "mine.png", "notes.txt"]


def test_load_config_fills_fields_older_runs_lack(tmp_path):
    saved = make_tiny_vae_config("x").to_dict()
    del saved["conv_impl"]  # runs saved before config.conv_impl existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert workdir.load_config(str(tmp_path)).conv_impl == "auto"
    with pytest.raises(CheckpointError, match="holds no run"):
        workdir.load_config(str(tmp_path / "empty"))


def test_a_shaping_field_change_is_refused_before_anything_is_written(tmp_path):
    config = make_tiny_vae_config("x")
    assert workdir.prepare(config, str(tmp_path)) is False  # nothing to resume
    os.makedirs(tmp_path / "checkpoints" / "0")
    before = (tmp_path / "config.json").read_text()
    changed = make_tiny_vae_config("x")
    changed.num_filters = 8
    with pytest.raises(ConfigError, match="num_filters=4, but this config has num_filters=8"):
        workdir.prepare(changed, str(tmp_path))
    assert (tmp_path / "config.json").read_text() == before
    longer = make_tiny_vae_config("x")
    longer.num_epochs = 9
    assert workdir.prepare(longer, str(tmp_path)) is True  # may change: trains on
    assert json.loads((tmp_path / "config.json").read_text())["num_epochs"] == 9
