"""common.report.explorer: the grid, the sprites, the page's data, and the page itself in headless
Chromium (Debian's `chromium`, driven by Playwright): the image shown at a point is the decoder's
image there, the codes are the model's, clicks draw the strip, nothing logs an error."""

import dataclasses
import json
import os
import re
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import copy_run
from PIL import Image

from common.errors import ConfigError
from common.report import explorer

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def test_tile_centres_run_row_by_row_from_the_top_left():
    z = explorer.grid_latents(-2.0, 2.0, 4)  # tiles of side 1
    assert z.shape == (16, 2)
    np.testing.assert_allclose(z[0], [-1.5, 1.5])  # row 0, col 0: left, top
    np.testing.assert_allclose(z[1], [-0.5, 1.5])  # z1 grows along a row
    np.testing.assert_allclose(z[4], [-1.5, 0.5])  # z2 falls down the rows


def test_sprite_puts_tile_i_at_row_i_over_per_row():
    tiles = np.arange(5 * 28 * 28, dtype=np.uint32).reshape(5, 28, 28).astype(np.uint8)
    picture = explorer.sprite(tiles, per_row=2)
    assert picture.shape == (3 * 28, 2 * 28)
    np.testing.assert_array_equal(picture[28:56, 28:56], tiles[3])
    assert not picture[56:, 28:].any()  # the missing sixth tile is black


def test_the_square_covers_the_draws_and_codes_up_to_twice_the_prior(vae_run):
    model = explorer.load(vae_run.workdir)
    reach = float(np.abs(model.prior).max())
    near = dataclasses.replace(
        model, codes=np.array([[0.5, -0.5]] * 99 + [[30.0, 0.0]], np.float32)
    )
    lo, hi = explorer.plane_square([near])
    assert lo < model.prior.min() and hi > model.prior.max()  # every draw is on the plane
    assert hi < explorer.MAX_REACH * reach * 1.2  # the one code at 30 does not stretch it
    far = dataclasses.replace(model, codes=np.full((100, 2), 100.0, np.float32))
    assert explorer.plane_square([far])[1] <= explorer.MAX_REACH * reach * 1.11


def test_a_run_without_a_2d_latent_is_one_line(vae_run, tmp_path):
    workdir = copy_run(vae_run, tmp_path / "run")
    path = os.path.join(workdir, "config.json")
    config = json.load(open(path))
    config["z_dim"] = 8
    json.dump(config, open(path, "w"))
    with pytest.raises(ConfigError, match="has z_dim 8: the explorer walks a 2-D latent plane"):
        explorer.load(workdir)


@pytest.fixture(scope="module")
def page(vae_run, aae_run, semi_run, tmp_path_factory):
    """The page of the tiny VAE, AAE and semi-supervised AAE runs, side by side: (folder,
    [Model])."""
    out = tmp_path_factory.mktemp("explorer")
    models = [explorer.load(run.workdir) for run in (vae_run, aae_run, semi_run)]
    explorer.write_page(models, str(out), n=16)
    return str(out), models


def test_the_page_is_small_and_names_its_files(page):
    out, models = page
    names = set(os.listdir(out))
    assert set(explorer.PAGE_FILES) | {explorer.DATA_FILE} <= names
    assert all(f"{m.name}_tiles.png" in names for m in models[:2])
    assert models[2].classes == tuple(f"y = {k}" for k in range(10))  # its decoder reads y
    assert {f"{models[2].name}_tiles_{k}.png" for k in range(10)} <= names  # a sprite per class
    assert len([n for n in names if n.startswith("digits_")]) == 1  # the same data: one file
    size = sum(os.path.getsize(os.path.join(out, n)) for n in names)
    assert size < 3e6 * len(models)


def test_the_docs_state_the_grid_the_strip_and_the_size(vae_run, semi_run, tmp_path):
    readme = open(os.path.join(os.path.dirname(__file__), "..", "docs", "experiments.md")).read()
    assert f"the nearest tile of a {explorer.GRID} x {explorer.GRID} grid" in readme
    assert f"decodes {explorer.STRIP} points along it" in readme
    assert "under 3 MB per model" in readme
    assert f"the {explorer.class_grid(10)} x {explorer.class_grid(10)} grid" in readme
    assert f"{explorer.class_grid(30)} x {explorer.class_grid(30)} for 30" in readme
    for run in (vae_run, semi_run):  # the default grids: one sprite, or one a class
        out = tmp_path / os.path.basename(run.workdir)
        explorer.write_page([explorer.load(run.workdir)], str(out))
        assert sum(os.path.getsize(out / name) for name in os.listdir(out)) < 3e6


def browser():
    """Playwright's Chromium on the system browser; skipped (failed under CI=true) without one."""
    path = next(filter(None, map(shutil.which, BROWSERS)), None)
    if path is None:
        message = "no Chromium on PATH (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must run the browser test")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    return sync_playwright, path


@pytest.fixture(scope="module")
def chromium():
    sync_playwright, path = browser()
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=path, headless=True)
        yield instance
        instance.close()


def open_page(chromium, url_or_html):
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    if url_or_html.startswith("file://"):
        page.goto(url_or_html)
    else:
        page.set_content(url_or_html)
    page.wait_for_load_state("load")
    return page, errors


def tile_pixels(out, model, row, col, class_index=0):
    with Image.open(os.path.join(out, explorer.tile_files(model)[class_index])) as image:
        pixels = np.asarray(image)
    return pixels[row * 28 : (row + 1) * 28, col * 28 : (col + 1) * 28]


def nearest_code(model, z, class_index=0):
    """The index of the code nearest z; a class model's, among the digits it puts in the class
    (all where it puts none there, or for class None)."""
    distance = np.sum((model.codes - np.asarray(z)) ** 2, axis=1)
    if model.classes and np.any(model.predicted == class_index):
        distance = np.where(model.predicted == class_index, distance, np.inf)
    return int(np.argmin(distance))


def decoded(model, z, class_index=0):
    """The model's mean image at z (with the one-hot class for a class model), as 0..255."""
    code = jnp.asarray(z, jnp.float32)[None]
    if model.classes:
        y = jax.nn.one_hot(jnp.array([class_index]), len(model.classes))
        code = jnp.concatenate([code, y], axis=-1)
    return np.asarray(model.trainer.decode(model.params, code))[0, ..., 0] * 255


def test_the_page_shows_the_decoders_image_at_the_pointer(chromium, page, tmp_path):
    out, models = page
    tab, errors = open_page(chromium, "file://" + os.path.join(out, "index.html"))
    data = tab.evaluate("() => window.EXPLORER_DATA")
    lo, hi, n = data["grid"]["lo"], data["grid"]["hi"], 16
    assert [m["n"] for m in data["models"]] == [n] * len(models)
    plane = tab.locator("canvas.plane").first
    # The planes' axes: ticks at round values of z, spread over the square.
    ticks = tab.evaluate("() => window.explorer.ticks")
    assert 4 <= len(ticks) <= 13 and lo <= min(ticks) and max(ticks) <= hi
    assert max(ticks) - min(ticks) >= (hi - lo) / 2
    for row, col in ((0, 0), (3, 11), (8, 8), (15, 2)):
        # The pointer at the tile's centre (the plane is 320 CSS pixels across n tiles; Playwright's
        # positions and the page's offsetX are both from the padding box, inside the border).
        plane.hover(position={"x": (col + 0.5) * 320 / n, "y": (row + 0.5) * 320 / n})
        shown = tab.evaluate("() => window.explorer.shown")
        z = tab.evaluate("() => window.explorer.z")
        centre = explorer.grid_latents(lo, hi, n)[row * n + col]
        np.testing.assert_allclose(z, centre, atol=(hi - lo) / n * 0.05)
        for model, s in zip(models, shown, strict=True):  # linked: every model, the same tile
            assert (s["row"], s["col"], s["cls"]) == (row, col, 0 if model.classes else None)
            expected = decoded(model, centre)
            np.testing.assert_allclose(tile_pixels(out, model, row, col), expected, atol=0.51)
            # The nearest encoded digit is the nearest of the model's codes (of the class shown).
            nearest = nearest_code(model, z)
            assert s["nearest"] == nearest and s["label"] == model.labels[nearest]
        position = tab.evaluate("() => document.querySelector('.decoded').style.backgroundPosition")
        assert [float(v) for v in re.findall(r"-?[\d.]+(?=px)", position)] == [
            -col * 168,
            -row * 168,
        ]

    # The page's codes are the models' codes of its images (z: a class model's first columns).
    for model, entry in zip(models, data["models"], strict=True):
        images = jnp.asarray(model.images[..., None])
        codes = np.asarray(model.trainer.encode(model.params, images))
        np.testing.assert_allclose(entry["codes"], codes[:, :2], atol=6e-5)
        if model.classes:  # and each digit's most probable class, q(y|x) after z
            np.testing.assert_array_equal(entry["predicted"], np.argmax(codes[:, 2:], axis=-1))

    # The class model's picker: class k shows its own sprite and the decoder's image with that
    # y (its nearest digit: the next test).
    semi, picker, k = models[2], tab.locator("select"), 7
    assert [s["cls"] for s in tab.evaluate("() => window.explorer.shown")] == [None, None, 0]
    assert picker.count() == 1 and picker.locator("option").count() == 10
    picker.select_option(str(k))
    s = tab.evaluate("() => window.explorer.shown")[2]
    assert s["cls"] == k and s["nearest"] == nearest_code(
        semi, tab.evaluate("() => window.explorer.z"), k
    )
    z = explorer.grid_latents(lo, hi, n)[s["row"] * n + s["col"]]
    np.testing.assert_allclose(
        tile_pixels(out, semi, s["row"], s["col"], k), decoded(semi, z, k), atol=0.51
    )
    image = tab.evaluate("() => document.querySelectorAll('.decoded')[2].style.backgroundImage")
    assert explorer.tile_files(semi)[k] in image

    # Two clicks pin a line and decode STRIP points along it; the arrows move the point.
    plane.click(position={"x": 10, "y": 10})
    plane.click(position={"x": 300, "y": 300})
    strips = tab.evaluate("() => window.explorer.strip")
    assert len(strips) == len(models)
    for strip in strips:
        assert len(strip) == explorer.STRIP
        assert (strip[0]["row"], strip[0]["col"]) == (0, 0) and strip[-1]["row"] == n - 1
    assert tab.locator(".strip .sprite").count() == explorer.STRIP * len(models)
    last = tab.locator(".strip").nth(2).locator(".sprite").last  # the class model's: class k
    assert explorer.tile_files(semi)[k] in last.evaluate("e => e.style.backgroundImage")
    picker.select_option("2")  # another class with the strip shown: the strip follows it
    last = tab.locator(".strip").nth(2).locator(".sprite").last
    assert explorer.tile_files(semi)[2] in last.evaluate("e => e.style.backgroundImage")
    assert tab.locator(".strip .sprite").count() == explorer.STRIP * len(models)
    before = tab.evaluate("() => window.explorer.shown")[0]
    plane.focus()
    tab.keyboard.press("ArrowLeft")
    tab.keyboard.press("ArrowUp")
    after = tab.evaluate("() => window.explorer.shown")[0]
    assert (after["row"], after["col"]) == (before["row"] - 1, before["col"] - 1)
    tab.screenshot(path=os.environ.get("EXPLORER_SCREENSHOT") or str(tmp_path / "e.png"))
    assert errors == []


def test_a_class_models_nearest_digit_is_one_it_puts_in_the_picked_class(chromium, page, tmp_path):
    # The tiny run puts every digit in one class: here they take the classes i % 10.
    semi = dataclasses.replace(page[1][2], predicted=np.arange(len(page[1][2].codes)) % 10)
    explorer.write_page([semi], str(tmp_path), n=4)
    tab, errors = open_page(chromium, "file://" + str(tmp_path / "index.html"))
    lo, hi = (tab.evaluate(f"() => window.EXPLORER_DATA.grid.{b}") for b in ("lo", "hi"))
    tab.locator("select").select_option("3")
    # The pointer on the digit of another class farthest from any of class 3: the nearest
    # digit of all is not of class 3, the nearest shown is (the nearest of class 3).
    inside = np.all((semi.codes > lo) & (semi.codes < hi), axis=1)  # on the plane
    others = np.flatnonzero((semi.predicted != 3) & inside)
    threes = semi.codes[semi.predicted == 3]
    gaps = [np.min(np.sum((threes - semi.codes[j]) ** 2, axis=1)) for j in others]
    far = semi.codes[others[int(np.argmax(gaps))]]
    position = {
        "x": float((far[0] - lo) / (hi - lo) * 320),
        "y": float((hi - far[1]) / (hi - lo) * 320),
    }
    tab.locator("canvas.plane").hover(position=position)
    z = tab.evaluate("() => window.explorer.z")
    (shown,) = tab.evaluate("() => window.explorer.shown")
    assert semi.predicted[nearest_code(semi, z, None)] != 3
    assert shown["nearest"] == nearest_code(semi, z, 3) and semi.predicted[shown["nearest"]] == 3
    assert "of this class" in tab.locator(".info span").inner_text()
    assert errors == []


def test_the_inline_page_works_without_its_files(chromium, page):
    out, models = page
    html = explorer.inline_html(out)
    assert not re.search(r'"[\w-]+\.png"', html) and "data:image/png;base64," in html
    tab, errors = open_page(chromium, html)
    shown = tab.evaluate("() => window.explorer.shown")
    assert [s["model"] for s in shown] == [m.name for m in models]
    loaded = tab.evaluate(
        "() => getComputedStyle(document.querySelector('.decoded')).backgroundImage"
    )
    assert loaded.startswith('url("data:image/png;base64,')
    assert errors == []
