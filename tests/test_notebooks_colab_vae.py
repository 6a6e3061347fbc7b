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
        WORKDIR_AAE_MIXTURE=str(tmp_path / "aae_z2_mixture_all_labels"),
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
    assert '"name":"aae_z2_mixture_all_labels"' in html


def run_install_cell(monkeypatch, cwd, package, jax_versions=("0.10.2", "0.10.2")):
    """The install cell as Colab runs it with the package not installed: (what pip was asked to
    install, or None; the SystemExit message, or None)."""
    import importlib.metadata
    import subprocess

    nb = nbformat.read(NOTEBOOK, as_version=4)
    install = next(c for c in nb.cells if "importlib.metadata" in c.source)
    versions = iter(jax_versions)

    def version(name):
        if name == "jax":
            return next(versions)
        raise importlib.metadata.PackageNotFoundError(name)

    asked = []
    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(subprocess, "check_call", lambda args: asked.append(args[-1]))
    monkeypatch.chdir(cwd)
    try:
        exec(compile(install.source, "install-cell", "exec"), {"PACKAGE": package})
    except SystemExit as e:
        return (asked[-1] if asked else None), str(e)
    return (asked[-1] if asked else None), None


def test_the_install_cell_installs_the_clone_it_sits_in_or_the_url_given(tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "pyproject.toml").write_text('[project]\nname = "jax-vae-aae"\n')
    assert run_install_cell(monkeypatch, clone / "notebooks", "") == (str(clone), None)
    url = "git+https://github.com/someone/jax-vae-aae"
    assert run_install_cell(monkeypatch, tmp_path, url) == (url, None)
    # No clone around it and no URL: one message saying what to set (Colab from a GitHub link).
    asked, message = run_install_cell(monkeypatch, tmp_path, "")
    assert asked is None and "Set PACKAGE" in message and "clone" in message
    # pip replaced the runtime's JAX (already imported): restart, said plainly.
    asked, message = run_install_cell(monkeypatch, clone, "", ("0.4.1", "0.10.2"))
    assert asked == str(clone) and "restart the runtime" in message
