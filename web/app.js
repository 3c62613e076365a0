// The page: draws, listens and passes bytes. Python (mnist_core.browser, in web/worker.js)
// loads the models, prepares the drawing and predicts; this file only shows what comes back.

const CANVAS_SIZE = 364;      // 13 canvas pixels per MNIST pixel, as in ggml's demo
const SCALE = CANVAS_SIZE / 28;
const STROKE_WIDTH = 20;
const LIVE_INTERVAL_MS = 60;  // at most one live prediction this often while a stroke goes on

const $ = (id) => document.getElementById(id);
const root = $("app");
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const preview = $("preview").getContext("2d");
const buttons = { clear: $("clear"), random: $("random"), download: $("download") };
const modelSelect = $("model");
const centreBox = $("centre");

// ---------------------------------------------------------------- the worker

const worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
const pending = new Map();
let nextId = 1;

function call(type, payload = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, type, ...payload }, transfer);
  });
}

worker.onmessage = ({ data }) => {
  if (data.type === "progress") {
    showProgress(data);
    return;
  }
  const request = pending.get(data.id);
  pending.delete(data.id);
  if (data.ok) request.resolve(data.result);
  else request.reject(new Error(data.error));
};
worker.onerror = (event) => fail(new Error(event.message || "the worker failed to start"));

// For tests and bench/bench_web.py: talk to the worker as the page does; `last` is the last result shown.
window.mnistCore = { call, last: null };

// ---------------------------------------------------------------- state

const state = {
  ready: false,
  arch: modelSelect.value,
  image28: new Uint8Array(784),   // what the model saw last (Download saves it)
  sample: null,                   // the test image on the canvas, until someone draws on it
  inked: false,                   // whether the canvas holds anything
  generation: 0,                  // bumped whenever the canvas is wiped
};

// ---------------------------------------------------------------- drawing

function clearCanvas() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, CANVAS_SIZE, CANVAS_SIZE);
  state.inked = false;
  state.generation++; // predictions of what was on the canvas before are not shown
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

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0 || stroke) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  if (state.sample) showSample(null);
  const [x, y] = canvasPoint(event);
  stroke = { pointerId: event.pointerId, x, y };
  Object.assign(ctx, { strokeStyle: "#000", lineWidth: STROKE_WIDTH, lineCap: "round", lineJoin: "round" });
  drawSegment([x, y]); // a dot for a tap
  state.inked = true;
  predictLive();
});

canvas.addEventListener("pointermove", (event) => {
  if (!stroke || event.pointerId !== stroke.pointerId) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) drawSegment(canvasPoint(e));
  predictLive();
});

function endStroke(event) {
  if (!stroke || event.pointerId !== stroke.pointerId) return;
  stroke = null;
  predictCanvas({ announce: true });
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// ---------------------------------------------------------------- predictions

let inFlight = null;       // the prediction the worker is working on
let queued = null;         // {announce}: the canvas changed since; predict again when free
let lastLive = 0;

function predictLive() {
  const now = performance.now();
  if (now - lastLive < LIVE_INTERVAL_MS) return;
  lastLive = now;
  predictCanvas({ announce: false });
}

// Predict what the canvas shows. Requests never pile up: while one is in flight, only the
// latest wish is kept, and sent when the worker is free (announce wins if any asked for it).
function predictCanvas({ announce }) {
  if (!state.ready) return Promise.resolve();
  if (inFlight) {
    queued = { announce: announce || (queued && queued.announce) };
    return inFlight;
  }
  const pixels = ctx.getImageData(0, 0, CANVAS_SIZE, CANVAS_SIZE).data;
  const generation = state.generation;
  inFlight = call("predict", { pixels, width: CANVAS_SIZE, height: CANVAS_SIZE, centre: centreBox.checked },
                  [pixels.buffer])
    .then((result) => {
      if (generation === state.generation) showPrediction(result, { announce });
      return result;
    })
    .catch(fail)
    .finally(() => {
      inFlight = null;
      if (queued) {
        const again = queued;
        queued = null;
        predictCanvas(again);
      }
    });
  return inFlight;
}

async function randomSample() {
  const result = await call("random");
  drawImage28(result.image28);
  showSample(result);
  showPrediction(result, { announce: true });
}

async function repredict() {
  if (state.sample) {
    const result = await call("sample", { index: state.sample.index });
    showPrediction(result, { announce: true });
  } else if (state.inked) {
    await predictCanvas({ announce: true });
  }
}

// ---------------------------------------------------------------- showing results

const bars = [];
for (let digit = 0; digit < 10; digit++) {
  const item = document.createElement("li");
  item.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span>` +
                   `<span class="value">–</span>`;
  $("bars").append(item);
  bars.push({ item, fill: item.querySelector(".fill"), value: item.querySelector(".value") });
}

const percent = (p) => `${(100 * p).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`;

let shown = 0; // predictions shown so far (tests wait on it)

function showPrediction(result, { announce }) {
  const prediction = $("prediction");
  prediction.dataset.count = String(++shown);
  prediction.dataset.state = announce ? "final" : "live";
  window.mnistCore.last = result;
  if (result.empty) {
    prediction.dataset.digit = "";
    $("digit").textContent = "–";
    $("prediction-text").textContent = "The canvas is empty.";
    bars.forEach(({ item, fill, value }) => { item.classList.remove("top"); fill.style.width = "0"; value.textContent = "–"; });
    if (announce) $("announce").textContent = "The canvas is empty: draw a digit.";
  } else {
    prediction.dataset.digit = String(result.digit);
    $("digit").textContent = String(result.digit);
    result.probabilities.forEach((p, digit) => {
      const bar = bars[digit];
      bar.item.classList.toggle("top", digit === result.digit);
      bar.fill.style.width = `${(100 * p).toFixed(1)}%`;
      bar.value.textContent = percent(p);
    });
    const [first, ...others] = result.top;
    const text = `Prediction: ${first[0]} (${percent(first[1])}). Next: ` +
                 others.map(([d, p]) => `${d} (${percent(p)})`).join(", ") + ".";
    $("prediction-text").textContent = text;
    const sample = result.index === undefined ? "" : `Test image ${result.index}, label ${result.label}. `;
    if (announce) $("announce").textContent = sample + text;
  }
  state.image28 = result.image28;
  drawPreview(result.image28);
  if (result.ms === undefined) return; // nothing was predicted (Clear)
  const timing = $("timing");
  timing.dataset.predictMs = result.ms.toFixed(2);
  timing.textContent = `${timing.dataset.loadText || ""}last prediction ${result.ms.toFixed(1)} ms (${state.arch}, in the worker)`;
}

function showSample(result) {
  const sample = $("sample");
  state.sample = result ? { index: result.index, label: result.label } : null;
  if (result) {
    sample.dataset.index = String(result.index);
    sample.dataset.label = String(result.label);
    sample.textContent = `test image ${result.index}, label ${result.label}`;
  } else {
    delete sample.dataset.index;
    delete sample.dataset.label;
    sample.textContent = "";
  }
}

// 28x28 model input (ink = 255) -> the preview, white ink on black as MNIST stores it.
function drawPreview(image28) {
  const pixels = preview.createImageData(28, 28);
  image28.forEach((v, i) => pixels.data.set([v, v, v, 255], 4 * i));
  preview.putImageData(pixels, 0, 0);
}

// A test image into the drawing canvas: black ink on white, 13 canvas pixels per MNIST pixel.
function drawImage28(image28) {
  clearCanvas();
  image28.forEach((v, i) => {
    if (v === 0) return;
    const shade = 255 - v;
    ctx.fillStyle = `rgb(${shade},${shade},${shade})`;
    ctx.fillRect((i % 28) * SCALE, Math.floor(i / 28) * SCALE, SCALE, SCALE);
  });
  state.inked = true;
}

function showProgress({ step, steps, text }) {
  $("status").textContent = text;
  $("progress").value = step / steps;
}

function fail(error) {
  const message = String(error.message || error).trim().split("\n").pop();
  console.error(error);
  $("status").textContent = `Error: ${message}`;
  if (!state.ready) root.dataset.state = "error";
}

// ---------------------------------------------------------------- buttons and options

buttons.clear.addEventListener("click", () => {
  clearCanvas();
  showSample(null);
  showPrediction({ empty: true, image28: new Uint8Array(784) }, { announce: true });
});

buttons.random.addEventListener("click", () => randomSample().catch(fail));

buttons.download.addEventListener("click", async () => {
  while (inFlight) await inFlight; // the final prediction of the last stroke, if it is on its way
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([state.image28], { type: "application/octet-stream" }));
  link.download = "image.raw";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});

modelSelect.addEventListener("change", async () => {
  const arch = modelSelect.value;
  modelSelect.disabled = true;
  root.dataset.model = "loading";
  $("status").textContent = `Loading ${arch}…`;
  try {
    const result = await call("model", { arch });
    state.arch = arch;
    $("status").textContent = result.loaded ? `${arch} loaded in ${result.ms.toFixed(0)} ms` : `${arch} selected`;
    await repredict();
  } catch (error) {
    fail(error);
  } finally {
    root.dataset.model = state.arch;
    modelSelect.disabled = false;
  }
});

centreBox.addEventListener("change", () => { if (!state.sample) repredict().catch(fail); });

// ---------------------------------------------------------------- start

clearCanvas();
drawPreview(state.image28);
call("init", { arch: state.arch })
  .then((info) => {
    const loadMs = performance.now(); // since navigation started
    state.ready = true;
    buttons.random.disabled = false;
    root.dataset.state = "ready";
    root.dataset.model = state.arch;
    root.dataset.loadMs = loadMs.toFixed(0);
    root.dataset.loadPhases = JSON.stringify(info.phases);
    $("status").textContent = `Ready in ${(loadMs / 1000).toFixed(2)} s: draw a digit, or press Random.`;
    $("timing").dataset.loadText = `loaded in ${(loadMs / 1000).toFixed(2)} s · `;
    $("timing").textContent = `loaded in ${(loadMs / 1000).toFixed(2)} s (${info.testImages} test images)`;
    if (state.inked) predictCanvas({ announce: true }); // drawn while loading
  })
  .catch(fail);

