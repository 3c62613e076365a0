// The drawing canvas: pointer strokes in black on white, and test images painted onto it. The canvas is
// as tall as ggml's demo (364 pixels) and wide enough for a number (index.html sets its width: narrower
// on a phone); the strokes are kept as they are drawn, for the worker to split touching digits by.

import { $, state } from "./dom.js";

const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
export const DIGIT_SCALE = canvas.height / 28; // 13 canvas pixels per MNIST pixel for one test image, as ggml's demo
const STROKE_WIDTH = 20;                        // index.html's early strokes draw with the same brush

export const canvasSize = () => ({ width: canvas.width, height: canvas.height });

export function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  state.inked = false;
  state.strokes = [];
  state.generation++; // predictions of what was on the canvas before are not shown
}

// The canvas's RGBA bytes, as the worker takes them.
export const canvasPixels = () => ctx.getImageData(0, 0, canvas.width, canvas.height).data;

// The strokes drawn so far, as the worker takes them: a flat x0, y0, x1, y1, ... array of canvas pixels each.
export const canvasStrokes = () => state.strokes.map((points) => Float32Array.from(points));

// A 28x28 image (ink = 255) painted in black on white, `scale` canvas pixels per pixel, its top-left corner
// at (x, y); by default alone on the canvas, in the middle.
function paintImage28(image28, { x, y, scale }) {
  image28.forEach((v, i) => {
    if (v === 0) return;
    const shade = 255 - v;
    ctx.fillStyle = `rgb(${shade},${shade},${shade})`;
    ctx.fillRect(x + (i % 28) * scale, y + Math.floor(i / 28) * scale, scale, scale);
  });
}

// A test image onto the canvas, in the middle, as ggml's demo shows it.
export function drawImage28(image28) {
  clearCanvas();
  paintImage28(image28, { x: Math.round((canvas.width - canvas.height) / 2), y: 0, scale: DIGIT_SCALE });
  state.inked = true;
}

// A number of test images (App.random_number's layout) onto the canvas.
export function drawNumber(layout) {
  clearCanvas();
  for (const digit of layout.digits) paintImage28(digit.image28, { x: digit.x, y: digit.y, scale: layout.scale });
  state.inked = true;
}

function canvasPoint(event) {
  const box = canvas.getBoundingClientRect();
  return [
    ((event.clientX - box.left) * canvas.width) / box.width,
    ((event.clientY - box.top) * canvas.height) / box.height,
  ];
}

let stroke = null; // {pointerId, x, y, points} while a pointer draws

function drawSegment([x, y]) {
  ctx.beginPath();
  if (x === stroke.x && y === stroke.y) {  // a tap: a dot (a line of no length draws nothing)
    ctx.arc(x, y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.moveTo(stroke.x, stroke.y);
    ctx.lineTo(x, y);
    ctx.stroke();
  }
  stroke.x = x;
  stroke.y = y;
  stroke.points.push(Math.round(x), Math.round(y));
}

const brush = () => Object.assign(ctx, {
  strokeStyle: "#000", fillStyle: "#000", lineWidth: STROKE_WIDTH, lineCap: "round", lineJoin: "round",
});

// Pointer drawing; the callbacks hear when a stroke starts, moves and ends. What was drawn before
// (index.html's early strokes, from the first paint) stays on the canvas, and a stroke in progress
// goes on here.
export function listenForStrokes({ start, move, end }) {
  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || stroke) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = canvasPoint(event);
    start();
    stroke = { pointerId: event.pointerId, x, y, points: [] };
    state.strokes.push(stroke.points);
    brush();
    drawSegment([x, y]); // a dot for a tap
    state.inked = true;
    move();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!stroke || event.pointerId !== stroke.pointerId) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) drawSegment(canvasPoint(e));
    move();
  });

  const endStroke = (event) => {
    if (!stroke || event.pointerId !== stroke.pointerId) return;
    stroke = null;
    end();
  };
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  const early = window.earlyStrokes ? window.earlyStrokes.handOver() : { inked: false, stroke: null, strokes: [] };
  state.inked = early.inked;
  state.strokes = early.strokes;
  if (early.stroke) {
    stroke = early.stroke;
    brush();
  }
}
