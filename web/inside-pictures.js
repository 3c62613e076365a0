// Numbers drawn as pictures, for the "inside the model" view (inside-model.js) and the weights redrawn
// while a model trains (training-weights.js), in the colour language of the desktop's pictures
// (mnist_core/pictures.py): a digit's ink dark grey on white; signed values (saliency, occlusion,
// weights) red when positive and blue when negative; activations, never negative, darken from white.
// Each picture is scaled to its own largest magnitude: the colours say where, not how much.
// A picture is drawn one canvas pixel per number and enlarged by CSS (image-rendering: pixelated);
// the gaps between tiles are left transparent.

const PAPER = [255, 255, 255];
const INK = [40, 40, 40];
const POSITIVE = [214, 39, 40];   // red
const NEGATIVE = [31, 119, 180];  // blue
const UNDER_SALIENCY = 0.25;      // how dark the digit shows under saliency and occlusion maps
const GAP = 1;                    // canvas pixels between tiles

// What the view drew last, as numbers, for tests and bench/bench_web.py: window.mnistCore.inside.
const drawn = {};
export function record(key, value) {
  drawn[key] = value;
  if (window.mnistCore) window.mnistCore.inside = drawn;
}

// The largest magnitude of `values`, or 1 where all are zero (a blank picture, not a division by zero).
export function largest(values) {
  let top = 0;
  for (const v of values) top = Math.max(top, Math.abs(v));
  return top > 0 ? top : 1;
}

function mix(base, colour, t) {
  const amount = Math.min(1, Math.max(0, t));
  return [0, 1, 2].map((c) => base[c] + (colour[c] - base[c]) * amount);
}

// Colourings: (value, index in the picture) -> [r, g, b].
export const shade = (top) => (v) => mix(PAPER, INK, v / top);
export function signed(top, under = null) {
  return (v, i) => {
    const base = under ? under[i] : PAPER;
    return v >= 0 ? mix(base, POSITIVE, v / top) : mix(base, NEGATIVE, -v / top);
  };
}

// Signed values in `count` tiles, each tile red and blue to its own largest magnitude: (value, i, tile) -> [r, g, b].
export function signedTiles(values, count) {
  const size = values.length / count;
  const colours = Array.from({ length: count }, (_, t) => signed(largest(values.subarray(t * size, (t + 1) * size))));
  return (v, i, t) => colours[t](v, i);
}

// The 28x28 image (ink = 255) as base colours, faint, for a map drawn over it.
export const faintDigit = (image28) => Array.from(image28, (v) => mix(PAPER, INK, (UNDER_SALIENCY * v) / 255));

// `count` tiles of height x width numbers, `columns` a row: the pixel i of tile t is value(t, i) (by
// default values[t * height * width + i]), coloured by colour(value, i, t). `scale`: CSS pixels per number.
export function drawTiles(canvas, { values, count = 1, height, width, columns = count, value, colour, scale }) {
  const rows = Math.ceil(count / columns);
  const w = columns * (width + GAP) - GAP;
  const h = rows * (height + GAP) - GAP;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const at = value || ((t, i) => values[t * height * width + i]);
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  for (let t = 0; t < count; t++) {
    const top = Math.floor(t / columns) * (height + GAP);
    const left = (t % columns) * (width + GAP);
    for (let i = 0; i < height * width; i++) {
      const [r, g, b] = colour(at(t, i), i, t);
      const p = 4 * ((top + Math.floor(i / width)) * w + left + (i % width));
      image.data[p] = r;
      image.data[p + 1] = g;
      image.data[p + 2] = b;
      image.data[p + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  if (scale) canvas.style.width = `${w * scale}px`;
}

// One square cell per value, `columns` a row, `cell` canvas pixels on a side; `selected` outlined.
export function drawCells(canvas, values, { columns, cell, colour, selected = null }) {
  const pitch = cell + GAP;
  const w = columns * pitch - GAP;
  const h = Math.ceil(values.length / columns) * pitch - GAP;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, w, h);
  values.forEach((v, i) => {
    const [r, g, b] = colour(v, i);
    context.fillStyle = `rgb(${r},${g},${b})`;
    context.fillRect((i % columns) * pitch, Math.floor(i / columns) * pitch, cell, cell);
  });
  if (selected !== null) {
    context.strokeStyle = "#f0a000";
    context.lineWidth = 2;
    const [x, y] = [(selected % columns) * pitch, Math.floor(selected / columns) * pitch];
    context.strokeRect(x - 1, y - 1, cell + 2, cell + 2);
  }
}

// The cell of drawCells' grid under a pointer event, or null.
export function cellAt(canvas, event, { columns, cell, count }) {
  const box = canvas.getBoundingClientRect();
  const x = ((event.clientX - box.left) * canvas.width) / box.width;
  const y = ((event.clientY - box.top) * canvas.height) / box.height;
  const index = Math.floor(y / (cell + GAP)) * columns + Math.floor(x / (cell + GAP));
  return x >= 0 && y >= 0 && x < canvas.width && index < count ? index : null;
}

const BAR = { width: 20, gap: 4, height: 90, label: 16 };

// A few values (logits, probabilities, a unit's output weights) as bars from a zero line, red up for
// positive and blue down for negative, each labelled with its digit; `highlight`'s label in bold.
export function drawBars(canvas, values, { highlight = null } = {}) {
  const w = values.length * (BAR.width + BAR.gap) - BAR.gap;
  const h = BAR.height + BAR.label;
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, w, h);
  const up = Math.max(0, ...values);
  const down = Math.max(0, ...values.map((v) => -v));
  const span = up + down || 1;
  const zero = Math.round((BAR.height * up) / span);
  context.fillStyle = "#bbb";
  context.fillRect(0, zero, w, 1);
  values.forEach((v, i) => {
    const left = i * (BAR.width + BAR.gap);
    const length = Math.round((BAR.height * Math.abs(v)) / span);
    context.fillStyle = `rgb(${(v >= 0 ? POSITIVE : NEGATIVE).join(",")})`;
    if (v >= 0) context.fillRect(left, zero - length, BAR.width, length);
    else context.fillRect(left, zero + 1, BAR.width, length);
    context.fillStyle = "#111";
    context.font = `${i === highlight ? "bold " : ""}12px system-ui, sans-serif`;
    context.textAlign = "center";
    context.fillText(String(i), left + BAR.width / 2, h - 3);
  });
}

// Blank a canvas (nothing to show: an empty drawing).
export function blank(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}
