// Predictions: asking the worker what the canvas or a test image shows, and showing the answer
// (the digit, a bar per digit, the 28x28 image the model saw, what screen readers hear). A drawing is
// read as a number (App.read_number): one digit shows here as it always did; several also show in
// #number (number.js), and the digit chosen there shows here.

import { $, digitText, drawDigit, fail, percent, state } from "./dom.js";
import { canvasPixels, canvasSize, canvasStrokes, drawImage28, drawNumber } from "./drawing.js";
import { hideNumber, numberAnnouncement, showNumber } from "./number.js";
import { call } from "./worker-client.js";

const LIVE_INTERVAL_MS = 60;  // at most one live prediction this often while a stroke goes on

const centreBox = $("centre");
const NOTHING = new Uint8Array(784);

let inFlight = null;       // the prediction the worker is working on
let queued = null;         // {announce}: the canvas changed since; predict again when free
let lastLive = 0;
let liveTimer = null;      // a live prediction put off to the end of the interval

// While a stroke goes on: at most one prediction every LIVE_INTERVAL_MS, and one at the end of the interval for
// what was drawn during it, so that the last of the ink is always read (not only when the stroke ends).
export function predictLive() {
  const wait = LIVE_INTERVAL_MS - (performance.now() - lastLive);
  if (wait > 0) {
    liveTimer ||= setTimeout(() => { liveTimer = null; predictLive(); }, wait);
    return;
  }
  lastLive = performance.now();
  predictCanvas({ announce: false });
}

// The stroke ended (its final prediction follows) or the canvas changed otherwise: no live prediction is due.
export function cancelLive() {
  clearTimeout(liveTimer);
  liveTimer = null;
}

// Read what the canvas shows: as a number, prepared like MNIST; or, with that option off, the whole canvas
// shrunk as ggml's demo does (one digit). Requests never pile up: while one is in flight, only the latest
// wish is kept, and sent when the worker is free (announce wins if any asked for it).
export function predictCanvas({ announce }) {
  if (!state.ready) return Promise.resolve();
  if (inFlight) {
    queued = { announce: announce || (queued && queued.announce) };
    return inFlight;
  }
  const pixels = canvasPixels();
  const { width, height } = canvasSize();
  const generation = state.generation;
  const request = centreBox.checked
    ? call("read_number", { pixels, width, height, strokes: canvasStrokes() }, [pixels.buffer])
    : call("predict_canvas", { pixels, width, height, centre: false }, [pixels.buffer]);
  inFlight = request
    .then((result) => {
      if (generation === state.generation) showReading(result, { announce });
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

// Resolves once no prediction is on its way (the last stroke's final one included).
export async function settled() {
  while (inFlight) await inFlight;
}

// A reading of the canvas (read_number's result, or predict_canvas's single digit) shown: nothing, one
// digit, or a number with its chosen digit below.
export function showReading(reading, { announce }) {
  window.mnistCore.reading = reading;
  if (reading.digits === undefined || reading.digits.length < 2) $("digit-label").textContent = "Prediction";
  if (reading.digits === undefined) {  // predict_canvas: one digit, whatever the canvas holds
    state.reading = null;
    hideNumber(null);
    return showPrediction(reading, { announce });
  }
  state.reading = reading;
  const { digits, model, ms } = reading;
  if (digits.length < 2) {
    hideNumber(reading);
    const shown = digits.length ? digits[0] : { empty: true, digit: null, probabilities: [], top: [], image28: NOTHING };
    return showPrediction({ ...shown, model, ms }, { announce });
  }
  const chosen = state.chosen !== null && state.chosen < digits.length ? state.chosen : digits.length - 1;
  const layout = state.sample && state.sample.number ? state.sample.digits : null;
  showNumber(reading, chosen, chooseDigit, layout);
  $("digit-label").textContent = `Digit ${chosen + 1} of ${digits.length}`;
  showPrediction({ ...digits[chosen], model, ms }, { announce, lead: numberAnnouncement(reading, chosen) });
}

// The user chose digit `index` of the number shown: it shows below (no new reading is needed).
function chooseDigit(index) {
  state.chosen = index;
  if (state.reading) showReading(state.reading, { announce: true });
}

// A test image (a result of "random" or "sample") onto the canvas, with its prediction.
export function showTestImage(result) {
  drawImage28(result.image28);
  showSample(result);
  state.reading = null;
  hideNumber(null);
  showPrediction(result, { announce: true });
}

export async function randomSample() {
  showTestImage(await call("random_sample"));
}

// A random number of test images onto the canvas, read as a drawing is, with their true digits shown.
export async function randomNumber() {
  const { width, height } = canvasSize();
  const layout = await call("random_number", { width, height });
  drawNumber(layout);
  state.chosen = null;
  showSample({ number: true, indices: layout.digits.map((d) => d.index), text: layout.text,
               digits: layout.digits.map(({ label, box }) => ({ label, box })) });
  await predictCanvas({ announce: true });
}

// Predict again what is shown (after the model or the preparation changed).
export async function repredict() {
  if (state.sample && !state.sample.number) {
    const result = await call("sample", { index: state.sample.index });
    showPrediction(result, { announce: true });
  } else if (state.inked) {
    await predictCanvas({ announce: true });
  }
}

const bars = [];
for (let digit = 0; digit < 10; digit++) {
  const item = document.createElement("li");
  item.innerHTML = `<span class="label">${digit}</span><span class="track"><span class="fill"></span></span>` +
                   `<span class="value">–</span>`;
  $("bars").append(item);
  bars.push({ item, fill: item.querySelector(".fill"), value: item.querySelector(".value") });
}

let shown = 0; // predictions shown so far (tests wait on it)
const shownListeners = [];

// Who else shows something for each prediction (inside-model.js): listener(result, {announce}).
export const onPredictionShown = (listener) => shownListeners.push(listener);

// One digit's prediction shown; `lead` comes before what the live region says (a number's words).
export function showPrediction(result, { announce, lead = "" }) {
  const prediction = $("prediction");
  prediction.dataset.count = String(++shown);
  prediction.dataset.state = announce ? "final" : "live";
  window.mnistCore.last = result;
  if (result.empty) {
    prediction.dataset.digit = "";
    prediction.dataset.sure = "";
    $("unsure").textContent = "";
    $("digit").textContent = "–";
    $("digit-probability").textContent = "";
    $("prediction-text").textContent = "The canvas is empty.";
    bars.forEach(({ item, fill, value }) => { item.classList.remove("top"); fill.style.width = "0"; value.textContent = "–"; });
    if (announce) $("announce").textContent = "The canvas is empty: draw a digit.";
  } else {
    prediction.dataset.digit = String(result.digit);
    prediction.dataset.sure = String(result.sure);
    // Unsure (top probability under mnist_core.prediction.UNSURE_BELOW): say which two it may be.
    const doubt = result.sure ? "" : `Not sure: ${result.top[0][0]} or ${result.top[1][0]}?`;
    $("digit").textContent = digitText(result);
    $("unsure").textContent = doubt;
    $("digit-probability").textContent = percent(result.probabilities[result.digit]);
    result.probabilities.forEach((p, digit) => {
      const bar = bars[digit];
      bar.item.classList.toggle("top", digit === result.digit);
      bar.fill.style.width = `${(100 * p).toFixed(1)}%`;
      bar.value.textContent = percent(p);
    });
    const [first, ...others] = result.top;
    const text = (doubt ? `${doubt} ` : "") + `Prediction: ${first[0]} (${percent(first[1])}). Next: ` +
                 others.map(([d, p]) => `${d} (${percent(p)})`).join(", ") + ".";
    $("prediction-text").textContent = text;
    const sample = result.index === undefined ? "" : `Test image ${result.index}, label ${result.label}. `;
    if (announce) $("announce").textContent = lead + sample + text;
  }
  state.image28 = result.image28;
  drawPreview(result.image28);
  shownListeners.forEach((listener) => listener(result, { announce }));
  if (result.ms === undefined) return; // nothing was predicted (Clear)
  const timing = $("timing");
  timing.dataset.predictMs = result.ms.toFixed(2);
  timing.textContent = `${timing.dataset.loadText || ""}last prediction ${result.ms.toFixed(1)} ms (${state.model}, in the worker)`;
}

// The test image, or the number of test images (Random number), on the canvas: which, and what they are.
export function showSample(result) {
  const sample = $("sample");
  state.sample = result;
  if (result === null) {
    delete sample.dataset.index;
    delete sample.dataset.label;
    sample.textContent = "";
  } else if (result.number) {
    sample.dataset.index = result.indices.join(",");
    sample.dataset.label = result.text;
    sample.textContent = `test images ${result.indices.join(", ")}: the number ${result.text}`;
  } else {
    state.sample = { index: result.index, label: result.label };
    sample.dataset.index = String(result.index);
    sample.dataset.label = String(result.label);
    sample.textContent = `test image ${result.index}, label ${result.label}`;
  }
}

// 28x28 model input (ink = 255) -> the preview, white ink on black as MNIST stores it.
export const drawPreview = (image28) => drawDigit($("preview"), image28);
