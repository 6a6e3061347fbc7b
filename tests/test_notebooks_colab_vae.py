"""notebooks/colab_vae.ipynb, run top to bottom in a real Jupyter kernel with tiny settings."""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "notebooks", "colab_vae.ipynb")
# Cells whose source draws a figure: each must leave an image in its outputs.
DRAWS = re.compile(r"plt\.show\(\)|display\(")
TINY = {"num_filters": 4, "z_dim": 2, "batch_size": 16, "eval_batch_size": 16, "num_samples": 4}


def with_parameters(nb, **values):
    """Inserts a cell after the one tagged `parameters` (papermill's convention) setting values."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)
    return nb


def image_outputs(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.mark.slow  # a Jupyter kernel trains four tiny models: README's second test command
def test_notebook_runs_and_shows_every_figure(tmp_path, mnist_dir, vae_run):
    # vae_run (conftest) trained the same tiny VAE on the same 180 images: the notebook's
    # kernel finds its programs in the compilation cache the session shares.
    nb = nbformat.read(NOTEBOOK, as_version=4)
    defaults = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name in (
        "PACKAGE",
        "NUM_EPOCHS",
        "NUM_EPOCHS_Z2",
        "NUM_EPOCHS_AAE",
        "DATA_DIR",
        "LIMIT",
        "WORKDIR",
        "WORKDIR_AAE",
        "WORKDIR_AAE_MIXTURE",
    ):
        assert re.search(rf"^{name} = ", defaults.source, re.M), name
    with_parameters(
        nb,
        NUM_EPOCHS=1,
        NUM_EPOCHS_Z2=1,
        NUM_EPOCHS_AAE=1,
        DATA_DIR=mnist_dir,
        LIMIT=180,  # all of mnist_dir's training split
        WORKDIR=str(tmp_path / "vae"),
        WORKDIR_Z2=str(tmp_path / "vae_z2"),
        WORKDIR_AAE=str(tmp_path / "aae_z2"),
        WORKDIR_AAE_MIXTURE=str(tmp_path / "aae_z2_mixture_labels"),
        CONFIG_OVERRIDES=TINY,
    )
    env_cwd = str(tmp_path)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": env_cwd}}
    ).execute()

    drawing = [c for c in nb.cells if c.cell_type == "code" and DRAWS.search(c.source)]
    assert len(drawing) >= 6  # the VAE's four, the AAEs' scatters and samples
    for cell in drawing:
        assert image_outputs(cell) >= 1, f"no figure shown by:\n{cell.source}"
    install = next(c for c in nb.cells if "importlib.metadata" in c.source)
    shown = "".join(out.get("text", "") for out in install.outputs)
    assert "is installed" in shown  # the package was importable: the cell installed nothing
    accelerator = next(c for c in nb.cells if "default_backend" in c.source)
    text = "".join(out.get("text", "") for out in accelerator.outputs)
    assert "runs on: CPU," in text and "Change runtime type" in text
    assert os.path.exists(tmp_path / "vae_z2" / "manifold.png")
    aae = next(c for c in nb.cells if "aae_train.train_and_evaluate" in c.source)
    printed = "".join(out.get("text", "") for out in aae.outputs)
    assert "val_code_own_region" in printed and "val_code_mean_norm" in printed  # each prior's
    # The explorer, inline: its data and sprites embedded in the cell's HTML output.
    page = next(c for c in nb.cells if "inline_html" in c.source)
    html = "".join(out.get("data", {}).get("text/html", "") for out in page.outputs)
    assert "window.EXPLORER_DATA" in html and "data:image/png;base64," in html
    assert '"name":"aae_z2_mixture_labels"' in html


def test_the_install_cell_refuses_the_placeholder_with_instructions():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    install = next(c for c in nb.cells if "importlib.metadata" in c.source)
    source = install.source.replace('"jax-vae-aae"', '"no-such-distribution-x"')
    scope = {"PACKAGE": "git+https://github.com/OWNER/REPO"}
    with pytest.raises(SystemExit, match="Set PACKAGE"):
        exec(compile(source, "install-cell", "exec"), scope)
