"""A model in two lines: `from common import load; model = load(workdir)`, and the model kinds
resolved by name."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import ROOT

from common import input_pipeline, plotting
from common.errors import CheckpointError, ConfigError
from common.train import kinds, pictures

# In a new process, as README shows it: load, then encode, decode, sample and reconstruct the
# first digit of each label the pictures show; the arrays come back as JSON.
PROGRAM = """
import json, sys
import numpy as np
from common import load
model = load(sys.argv[1])
digits = np.load(sys.argv[2])
z = model.encode(digits)
out = {
    "epoch": model.epoch, "kind": model.kind, "z_dim": model.config.z_dim,
    "z": np.asarray(z).tolist(),
    "decoded": np.asarray(model.decode(z)).tolist(),
    "reconstructed": np.asarray(model.reconstruct(digits)).tolist(),
    "samples": np.asarray(model.sample(0, 5)).tolist(),
}
print(json.dumps(out))
"""


@pytest.mark.parametrize("run_name", ["vae_run", "aae_run"])
def test_load_gives_the_model_the_pictures_show_in_a_new_process(run_name, request, tmp_path):
    run = request.getfixturevalue(run_name)
    data = input_pipeline.load_dataset(run.config.data)
    shown = pictures.Shown.of(data)
    digits, _ = plotting.pick_digits(shown.images, shown.labels)
    np.save(tmp_path / "digits.npy", digits)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, run.workdir, str(tmp_path / "digits.npy")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["epoch"] == run.config.num_epochs and out["kind"] == run.config.model
    z, decoded = np.array(out["z"]), np.array(out["decoded"])
    reconstructed, samples = np.array(out["reconstructed"]), np.array(out["samples"])
    assert z.shape == (len(digits), run.config.z_dim)
    assert decoded.shape == reconstructed.shape == (len(digits), 28, 28, 1)
    assert samples.shape == (5, 28, 28, 1)
    for images in (decoded, reconstructed, samples):
        assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(decoded, reconstructed)  # reconstruct = decode(encode(x))
    # What the pictures compute for the reconstruction grid, with the trainer's functions.
    trainer, state, _ = kinds.restore(run.workdir)
    shows = jax.jit(trainer.decode)(state.params, jax.jit(trainer.encode)(state.params, digits))
    np.testing.assert_allclose(reconstructed, np.asarray(shows), atol=1e-6)


def test_load_refuses_what_is_not_a_run_and_kinds_are_resolved_by_name(tmp_path, aae_run):
    with pytest.raises(CheckpointError, match="holds no run"):
        kinds.load(str(tmp_path))
    with pytest.raises(CheckpointError, match="no checkpoint for epoch 7"):
        kinds.load(aae_run.workdir, epoch=7)
    assert kinds.trainer_class("aae").kind == "aae"
    with pytest.raises(ConfigError, match="not a model kind of this project"):
        kinds.trainer_class("gan")
    model = kinds.load(aae_run.workdir)
    with pytest.raises(ValueError, match="must be uint8"):
        model.encode(np.zeros((2, 28, 28, 1), np.float32))
    assert model.encode(np.zeros((2, 28, 28), np.uint8)).shape == (2, aae_run.config.z_dim)
    # Bad shapes are named in one line, not a convolution's or flax's error from deep inside.
    z_dim = aae_run.config.z_dim
    for images in (np.zeros((28, 28, 1), np.uint8), np.zeros((2, 784), np.uint8)):
        with pytest.raises(ValueError, match=r"images must be \[N, 28, 28, 1\] or \[N, 28, 28\]"):
            model.encode(images)
    for z in (np.zeros((2, z_dim + 1)), np.zeros(z_dim)):
        with pytest.raises(ValueError, match=rf"codes must be \[N, {z_dim}\], got shape"):
            model.decode(z)
    with pytest.raises(ValueError, match="num must be an integer >= 0, got -1"):
        model.sample(0, -1)
    assert model.sample(0, np.int64(2)).shape == (2, 28, 28, 1)


def test_load_leaves_out_orbaxs_notes_on_reading(aae_run, caplog):
    # "Given directory is read only", "Metadata file does not exist", ...: nothing a user of
    # `load` acts on (an epoch that does not restore is this project's own warning).
    import logging

    with caplog.at_level(logging.INFO):
        kinds.load(aae_run.workdir)
    assert [r.getMessage() for r in caplog.records if "/orbax/" in r.pathname] == []
