// The drawing canvas: pointer strokes in black on white, and test images painted onto it.

import { $, state } from "./dom.js";

export const CANVAS_SIZE = 364;      // 13 canvas pixels per MNIST pixel, as in ggml's demo
const SCALE = CANVAS_SIZE / 28;
const STROKE_WIDTH = 20;             // index.html's early strokes draw with the same brush

const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });

export function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, CANVAS_SIZE, CANVAS_SIZE);
  state.inked = false;
  state.generation++; // predictions of what was on the canvas before are not shown
}

// The canvas's RGBA bytes, as the worker takes them.
export const canvasPixels = () => ctx.getImageData(0, 0, CANVAS_SIZE, CANVAS_SIZE).data;

// A test image into the drawing canvas: black ink on white, 13 canvas pixels per MNIST pixel.
export function drawImage28(image28) {
  clearCanvas();
  image28.forEach((v, i) => {
    if (v === 0) return;
    const shade = 255 - v;
    ctx.fillStyle = `rgb(${shade},${shade},${shade})`;
    ctx.fillRect((i % 28) * SCALE, Math.floor(i / 28) * SCALE, SCALE, SCALE);
  });
  state.inked = true;
}

function canvasPoint(event) {
  const box = canvas.getBoundingClientRect();
  return [
    ((event.clientX - box.left) * CANVAS_SIZE) / box.width,
    ((event.clientY - box.top) * CANVAS_SIZE) / box.height,
  ];
}

let stroke = null; // {pointerId, x, y} while a pointer draws

function drawSegment([x, y]) {
  ctx.beginPath();
  ctx.moveTo(stroke.x, stroke.y);
  ctx.lineTo(x, y);
  ctx.stroke();
  stroke.x = x;
  stroke.y = y;
}

const brush = () => Object.assign(ctx, { strokeStyle: "#000", lineWidth: STROKE_WIDTH, lineCap: "round", lineJoin: "round" });

// Pointer drawing; the callbacks hear when a stroke starts, moves and ends. What was drawn before
// (index.html's early strokes, from the first paint) stays on the canvas, and a stroke in progress
// goes on here.
export function listenForStrokes({ start, move, end }) {
  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || stroke) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = canvasPoint(event);
    stroke = { pointerId: event.pointerId, x, y };
    brush();
    start();
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

  const early = window.earlyStrokes ? window.earlyStrokes.handOver() : { inked: false, stroke: null };
  state.inked = early.inked;
  if (early.stroke) {
    stroke = early.stroke;
    brush();
  }
}
