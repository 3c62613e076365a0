// The page: draws, listens and passes bytes. Python (mnist_core.browser, in web/worker.js)
// loads the models, prepares the drawing and predicts; the modules here only show what comes back.
//   dom.js            element lookup, shared state, errors
//   worker-client.js  requests to the worker
//   drawing.js        the canvas, pointer strokes and test images painted on it
//   prediction.js     predictions and how they are shown; number.js a number's digits
//   inside-model.js   inside the model for each prediction: activations, weights, saliency, occlusion
//   evaluation.js     the whole test set: figures, confusion matrix, misclassified images
//   model-files.js    GGUF models the user opens or drops on the page
//   learning.js       corrections (#correct) that fine-tune the model; storage.js keeps them (IndexedDB)
//   training.js       training in the page, with charts (charts.js, uPlot) and #save-model
//   offline.js        the service worker (sw.js) that keeps the site for offline use, and the runtime
//                     compiled ahead of the next visit (warm-runtime.js)
// This file wires the buttons and options, and starts everything.

import { $, fail, root, state } from "./dom.js";
import { clearCanvas, listenForStrokes } from "./drawing.js";
import { enableEvaluation } from "./evaluation.js";
import "./inside-model.js";
import { enableLearning } from "./learning.js";
import { enableModelFiles } from "./model-files.js";
import { keepOffline } from "./offline.js";
import {
  cancelLive, drawPreview, predictCanvas, predictLive, randomNumber, randomSample, repredict, settled, showReading,
  showSample,
} from "./prediction.js";
import { browserProblem, siteProblem } from "./startup.js";
import { enableTraining } from "./training.js";
import {
  call, onNotice, onProgress, onWorkerError, startWorker, stopEarlyWorker, stopWorker,
} from "./worker-client.js";

const buttons = { clear: $("clear"), random: $("random"), randomNumber: $("random-number"), download: $("download") };
const modelSelect = $("model");
const centreBox = $("centre");

// For tests and bench/bench_web.py: talk to the worker as the page does; `last` is the last prediction shown,
// `reading` the last reading of the canvas, `strokes()` the strokes drawn on it (what read_number was sent),
// `sample()` the test image or random number on the canvas (its layout: [{label, box}]).
window.mnistCore = {
  call, last: null, reading: null, strokes: () => state.strokes.map((points) => [...points]), sample: () => state.sample,
};

onProgress(({ step, steps, text }) => {
  $("status").textContent = text;
  $("progress").value = step / steps;
});
onWorkerError(workerFailed);
onNotice("test-set", ({ count }) => {
  root.dataset.testImages = String(count);
  root.dataset.testSetMs = performance.now().toFixed(0);
  if (!state.image28.some(Boolean)) $("timing").textContent += ` (${count} test images)`; // before any prediction
});

listenForStrokes({
  start: () => { if (state.sample) showSample(null); },
  move: predictLive,
  end: () => {
    cancelLive();
    predictCanvas({ announce: true });
  },
});

// ---------------------------------------------------------------- buttons and options

buttons.clear.addEventListener("click", () => {
  cancelLive();
  clearCanvas();
  showSample(null);
  state.chosen = null;
  showReading({ text: "", digits: [] }, { announce: true });
});

buttons.random.addEventListener("click", () => randomSample().catch(fail));
buttons.randomNumber.addEventListener("click", () => randomNumber().catch(fail));

buttons.download.addEventListener("click", async () => {
  await settled(); // the final prediction of the last stroke, if it is on its way
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([state.image28], { type: "application/octet-stream" }));
  link.download = "image.raw";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});

modelSelect.addEventListener("change", async () => {
  const name = modelSelect.value;
  modelSelect.disabled = true;
  root.dataset.model = "loading";
  $("status").textContent = `Loading ${name}…`;
  try {
    const result = await call("select_model", { name });
    state.model = name;
    $("status").textContent = result.loaded ? `${name} loaded in ${result.ms.toFixed(0)} ms` : `${name} selected`;
    await repredict();
  } catch (error) {
    fail(error);
  } finally {
    root.dataset.model = state.model;
    modelSelect.disabled = false;
  }
});

centreBox.addEventListener("change", () => { if (!state.sample || state.sample.number) repredict().catch(fail); });

// ---------------------------------------------------------------- start

// A start-up problem (startup.js: unbuilt site, missing file, old browser...) is one line saying
// what to do; data-problem names its kind for tests.
function showProblem({ kind, message }) {
  console.error(message);
  $("status").textContent = message;
  root.dataset.problem = kind;
  root.dataset.state = "error";
}

let siteChecked = Promise.resolve(null); // startup.js's siteProblem, run while the worker starts

// The worker failed before it was ready: what the site's checks found explains it best, when they found anything.
async function workerFailed(error) {
  if (state.ready) return fail(error);
  const problem = await siteChecked;
  if (problem || root.dataset.problem) return; // start() says it
  // A worker that cannot load its modules gets no message from the browser: worker-client.js's default then.
  const why = /failed to start/.test(error.message) ? "" : ` (${error.message})`;
  showProblem({ kind: "worker", message: `The worker (worker.js) failed to start${why}: reload; if it happens ` +
                                         "again, run python build_wasm.py again and see the browser console." });
}

async function start() {
  if (root.dataset.problem) {  // already said (index.html: the page was opened as a file)
    stopEarlyWorker();
    return;
  }
  const browser = browserProblem(); // index.html started no worker then
  if (browser) {
    stopEarlyWorker();
    return showProblem(browser);
  }
  // The worker started as the page was parsed (index.html; it starts Python at once) or starts now; the
  // site's checks (build.json, each file's size) run alongside it, and a problem they find (an unbuilt
  // site, a missing or damaged file) is said plainly instead.
  // When each step ended, since navigation started: the page's modules loaded, the worker created.
  const marks = { modulesLoaded: performance.now() };
  marks.workerCreated = window.earlyWorker ? window.earlyWorker.created : performance.now();
  startWorker();
  const ready = call("init", { arch: state.model });
  ready.catch(() => {}); // awaited below, once the checks have passed
  siteChecked = siteProblem();
  const problem = await siteChecked;
  if (problem) {
    stopWorker();
    return showProblem(problem);
  }
  marks.checksPassed = performance.now();
  const info = await ready;
  const loadMs = performance.now();
  for (const [name, epoch] of Object.entries(info.marks)) marks[name] = epoch - performance.timeOrigin;
  marks.ready = loadMs;
  const named = {
    strokes: "strokesTaken", "first-paint": "firstPaint", "first-contentful-paint": "firstContentfulPaint",
    "wasm-handed-over": "wasmHandedOver", "snapshot-handed-over": "snapshotHandedOver", // index.html
  };
  for (const [name, mark] of Object.entries(named)) {
    for (const entry of performance.getEntriesByName(name)) marks[mark] = entry.startTime;
  }
  state.ready = true;
  buttons.random.disabled = false;
  buttons.randomNumber.disabled = false;
  root.dataset.state = "ready";
  root.dataset.model = state.model;
  root.dataset.loadMs = loadMs.toFixed(0);
  root.dataset.loadMarks = JSON.stringify(Object.fromEntries(Object.entries(marks).sort((a, b) => a[1] - b[1])));
  root.dataset.start = info.start; // "snapshot", or "normal" with the reason (python-start.js)
  root.dataset.startReason = info.startReason;
  $("status").textContent = `Ready in ${(loadMs / 1000).toFixed(2)} s: draw a digit or a number, or press Random.`;
  $("timing").dataset.loadText = `loaded in ${(loadMs / 1000).toFixed(2)} s · `;
  $("timing").textContent = `loaded in ${(loadMs / 1000).toFixed(2)} s`;
  $("timing").title = info.start === "snapshot" ? "Python was restored from the build's memory snapshot"
    : `Python started the normal way: ${info.startReason}`;
  if (state.inked) predictCanvas({ announce: true }); // drawn while loading
  enableEvaluation();
  enableModelFiles();
  enableTraining(await enableLearning());  // corrections and models kept in this browser come back first
  keepOffline();
}

if (!state.inked) clearCanvas(); // what was drawn from the first paint on stays (drawing.js)
drawPreview(state.image28);
start().catch(fail);
