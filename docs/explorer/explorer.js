// The latent plane explorer (written by common/report/explorer.py with data.js beside it).
//
// data.js sets window.EXPLORER_DATA = {grid: {lo, hi, tile}, strip, models: [{name, title, n,
// tiles: [sprite], classes: [name], predicted: [class], digits, digits_per_row,
// codes: [[z1, z2]], labels, prior: [[z1, z2]]}]}. Tile (row, col) of a model's sprite (n x n
// tiles of `tile` pixels) is its decoder's mean image at z = (lo + (col + 0.5) s,
// hi - (row + 0.5) s), s = (hi - lo) / n: z1 grows to the right, z2 upwards. A model with
// classes (its decoder reads a class y beside z) has a sprite per class, a picker, and each
// digit's most probable class (`predicted`); the others have one sprite and no classes.
// Images are CSS backgrounds, never drawn on a canvas, so the page works from file://
// (Chromium taints a canvas that draws a file:// image; data comes by <script>, not fetch).
// window.explorer holds what the page shows, for tests and the curious.
(function () {
  "use strict";
  const D = window.EXPLORER_DATA;
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];
  const PLANE = 320; // the plane's size in CSS pixels
  const DECODED = 168, DIGIT = 56, STRIP_TILE = 42;
  const lo = D.grid.lo, hi = D.grid.hi, span = hi - lo;
  const step = span / Math.max(...D.models.map((m) => m.n)); // an arrow key: the finest tile
  const state = { z: [(lo + hi) / 2, (lo + hi) / 2], pins: [], shown: [], strip: [] };
  window.explorer = state;

  const clamp = (v, a, b) => Math.min(Math.max(v, a), b);
  function tileOf(z, n) {
    const side = span / n;
    return {
      row: clamp(Math.floor((hi - z[1]) / side), 0, n - 1),
      col: clamp(Math.floor((z[0] - lo) / side), 0, n - 1),
    };
  }
  // Codes beyond the square (an unregularised autoencoder's) are drawn at its border.
  const toPixel = (z) => [clamp((z[0] - lo) / span * PLANE, 0, PLANE),
    clamp((hi - z[1]) / span * PLANE, 0, PLANE)];
  const fromPixel = (x, y) => [lo + x / PLANE * span, hi - y / PLANE * span];

  function showTile(el, src, perRow, row, col, size) {
    el.style.backgroundImage = `url("${src}")`;
    el.style.backgroundSize = `${perRow * size}px auto`;
    el.style.backgroundPosition = `-${col * size}px -${row * size}px`;
    el.dataset.row = row;
    el.dataset.col = col;
  }

  // The nearest code to z; with a class `cls`, the nearest of the digits the model puts in it
  // (its style nearest z), or of all where it puts none.
  function nearest(model, z, cls) {
    const of = model.predicted.some((k) => k === cls) ? cls : null;
    let best = -1, bestD = Infinity;
    model.codes.forEach((c, i) => {
      if (of !== null && model.predicted[i] !== of) return;
      const d = (c[0] - z[0]) ** 2 + (c[1] - z[1]) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    });
    return best;
  }

  function el(tag, cls, parent) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (parent) parent.appendChild(e);
    return e;
  }

  const panels = D.models.map((model) => {
    const box = el("section", "model", document.getElementById("models"));
    el("h2", "", box).textContent = model.title;
    const row = el("div", "row", box);
    const canvas = el("canvas", "plane", row);
    canvas.width = PLANE;
    canvas.height = PLANE;
    canvas.tabIndex = 0;
    canvas.setAttribute("aria-label", `latent plane of ${model.name}: arrow keys move the point`);
    const side = el("div", "side", row);
    let picker = null;
    if (model.classes.length) {
      const label = el("label", "info", side);
      label.append("class ");
      picker = el("select", "", label);
      model.classes.forEach((name, k) => {
        const option = el("option", "", picker);
        option.value = k;
        option.textContent = name;
      });
    }
    const decoded = el("div", "sprite decoded", side);
    const info = el("div", "info", side);
    const near = el("div", "info", side);
    const digit = el("div", "sprite digit", near);
    const nearText = el("span", "", near);
    const strip = el("div", "strip", box);
    // cls: the class shown, null for a model without classes
    const cls = model.classes.length ? 0 : null;
    return { model, canvas, picker, cls, decoded, info, digit, nearText, strip };
  });

  // Axis ticks at round values of z (about six per axis), as faint grid lines with labels.
  const TICK = (() => {
    const raw = span / 6, p = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  })();
  state.ticks = [];
  for (let v = Math.ceil(lo / TICK) * TICK; v <= hi + 1e-9; v += TICK) {
    state.ticks.push(+v.toFixed(6));
  }

  function drawAxes(ctx) {
    ctx.save();
    ctx.strokeStyle = "rgba(0, 0, 0, 0.1)";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#555";
    ctx.font = "10px system-ui, sans-serif";
    for (const v of state.ticks) {
      const x = (v - lo) / span * PLANE, y = (hi - v) / span * PLANE;
      ctx.beginPath();
      ctx.moveTo(x, 0); ctx.lineTo(x, PLANE);
      ctx.moveTo(0, y); ctx.lineTo(PLANE, y);
      ctx.stroke();
      ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      if (x > 14) ctx.fillText(String(v), x, PLANE - 2); // (the corner is the other axis')
      ctx.textAlign = "left"; ctx.textBaseline = "middle";
      if (y > 14 && y < PLANE - 14) ctx.fillText(String(v), 2, y);
    }
    ctx.textAlign = "right"; ctx.textBaseline = "bottom";
    ctx.fillText("z1 \u2192", PLANE - 3, PLANE - 13);
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText("\u2191 z2", 14, 3);
    ctx.restore();
  }

  function draw(p) {
    const ctx = p.canvas.getContext("2d");
    ctx.clearRect(0, 0, PLANE, PLANE);
    drawAxes(ctx);
    ctx.fillStyle = "rgba(0, 0, 0, 0.12)";
    for (const z of p.model.prior) {
      const [x, y] = toPixel(z);
      ctx.fillRect(x - 1, y - 1, 2, 2);
    }
    p.model.codes.forEach((z, i) => {
      const label = p.model.labels[i];
      ctx.fillStyle = label >= 0 ? COLORS[label % 10] : "#444";
      const [x, y] = toPixel(z);
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    });
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    if (state.pins.length === 2) {
      const [a, b] = state.pins.map(toPixel);
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    }
    for (const pin of state.pins) {
      const [x, y] = toPixel(pin);
      ctx.beginPath();
      ctx.arc(x, y, 5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    const [x, y] = toPixel(state.z);
    ctx.beginPath();
    ctx.moveTo(x - 8, y); ctx.lineTo(x + 8, y);
    ctx.moveTo(x, y - 8); ctx.lineTo(x, y + 8);
    ctx.stroke();
  }

  function update() {
    state.shown = panels.map((p) => {
      const t = tileOf(state.z, p.model.n);
      showTile(p.decoded, p.model.tiles[p.cls ?? 0], p.model.n, t.row, t.col, DECODED);
      p.info.textContent = `z = (${state.z[0].toFixed(3)}, ${state.z[1].toFixed(3)}); ` +
        `tile ${t.row}, ${t.col}`;
      const i = nearest(p.model, state.z, p.cls);
      const per = p.model.digits_per_row;
      showTile(p.digit, p.model.digits, per, Math.floor(i / per), i % per, DIGIT);
      const label = p.model.labels[i];
      let ofClass = "";
      if (p.cls !== null) {
        ofClass = p.model.predicted[i] === p.cls ? " of this class" : " (none is of this class)";
      }
      p.nearText.textContent = `nearest encoded digit${ofClass}: #${i}` +
        (label >= 0 ? `, label ${label}` : "");
      draw(p);
      return { model: p.model.name, row: t.row, col: t.col, cls: p.cls, nearest: i, label };
    });
  }

  // state.strip: per model, the tiles decoded along the pinned line (none without two pins).
  function drawStrip() {
    state.strip = panels.map((p) => {
      p.strip.replaceChildren();
      if (state.pins.length !== 2) return [];
      const [a, b] = state.pins;
      return Array.from({ length: D.strip }, (_, k) => {
        const f = k / (D.strip - 1);
        const t = tileOf([a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])], p.model.n);
        const tile = el("div", "sprite", p.strip);
        showTile(tile, p.model.tiles[p.cls ?? 0], p.model.n, t.row, t.col, STRIP_TILE);
        return t;
      });
    });
  }

  for (const p of panels) {
    if (p.picker) {
      p.picker.addEventListener("change", () => {
        p.cls = Number(p.picker.value);
        drawStrip();
        update();
      });
    }
    p.canvas.addEventListener("mousemove", (e) => {
      state.z = fromPixel(e.offsetX, e.offsetY);
      update();
    });
    p.canvas.addEventListener("click", (e) => {
      const z = fromPixel(e.offsetX, e.offsetY);
      state.pins = state.pins.length === 2 ? [z] : [...state.pins, z];
      state.z = z;
      drawStrip();
      update();
    });
    p.canvas.addEventListener("keydown", (e) => {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
      if (!(e.key in moves)) return;
      e.preventDefault();
      const [dx, dy] = moves[e.key];
      state.z = [clamp(state.z[0] + dx * step, lo, hi - 1e-9),
        clamp(state.z[1] + dy * step, lo + 1e-9, hi)];
      update();
    });
  }

  const legend = document.getElementById("legend");
  legend.append("Labels:");
  COLORS.forEach((c, i) => {
    const s = el("span", "swatch", legend);
    s.style.background = c;
    legend.append(String(i));
  });
  update();
})();
