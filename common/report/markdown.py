"""Pieces of the markdown reports: tables, numbers, paths fit to commit, figures copied beside
the report."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Any

from common import files


def display_path(path: str) -> str:
    """Relative when under the working directory, else `.../LAST_PART`: no machine's paths."""
    if not path:
        return path
    rel = os.path.relpath(os.path.abspath(path), os.getcwd())
    if not rel.startswith(".."):
        return rel
    return ".../" + os.path.basename(os.path.normpath(path))


def machine_label(machine: dict[str, Any] | None) -> str:
    """One line: CPU and cores, jax backend and devices, jax version."""
    if not machine:
        return "not recorded (trained outside scripts/reproduce.py)"
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores; "
        f"jax {machine.get('jax_version', '?')} on {machine.get('backend', '?')}: "
        f"{machine.get('num_devices', '?')} x {machine.get('device_kind', '?')}"
    )


def fmt(value: Any, spec: str = ".4f") -> str:
    return "" if value is None else format(value, spec)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def copy_png(src: str, dst: str) -> None:
    """Copies a PNG; a grey one (matplotlib writes RGBA) is stored with one 8-bit channel,
    which halves the size of the sample grids committed to the repository."""
    import numpy as np
    from PIL import Image  # a dependency of matplotlib

    with Image.open(src) as image:
        pixels = np.asarray(image)
    opaque_grey = (
        pixels.ndim == 3
        and pixels.shape[-1] in (3, 4)
        and (pixels[..., :3] == pixels[..., :1]).all()
        and (pixels.shape[-1] == 3 or (pixels[..., 3] == 255).all())
    )
    if opaque_grey:
        with files.replacing(dst, "wb") as f:
            Image.fromarray(np.ascontiguousarray(pixels[..., 0])).save(
                f, format="PNG", optimize=True
            )
    else:
        files.copy(src, dst)


class Figures:
    """Copies a workdir's PNGs into DOCS/FIGURES/EXPERIMENT/ and returns markdown links."""

    def __init__(self, docs_dir: str, figures: str, name: str, workdir: str):
        self.docs_dir, self.workdir = docs_dir, workdir
        self.folder = os.path.join(docs_dir, figures, name)

    def link(self, rel_path: str, alt: str) -> str | None:
        src = os.path.join(self.workdir, rel_path)
        if not os.path.exists(src):
            return None
        dst = os.path.join(self.folder, rel_path.replace(os.sep, "_"))
        os.makedirs(self.folder, exist_ok=True)
        copy_png(src, dst)
        return f"![{alt}]({os.path.relpath(dst, self.docs_dir).replace(os.sep, '/')})"


def mean_std(values: list[float], spec: str) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return format(values[0], spec)
    return f"{statistics.fmean(values):{spec}} ± {statistics.stdev(values):{spec}}"
