// The Web Worker: runs Pyodide and mnist_core.browser.App off the page's thread, so drawing
// never waits for Python. It fetches files from the page's own origin and passes their bytes
// to Python; models, preprocessing and predictions are all Python (mnist_core/browser.py).
//
// Messages in:  {id, type: "init" | "model" | "predict" | "random" | "sample" | "evaluate" | "cell" |
//                "open-model", ...}
// Messages out: {id, ok: true, result} or {id, ok: false, error}; {type: "progress" |
//               "evaluation-progress", ...}.
import { loadPyodide } from "./pyodide/pyodide.mjs";
import { learningHandlers } from "./worker-learning.js";
import { trainingHandlers } from "./worker-training.js";

const BASE = new URL("./", self.location.href);
const url = (path) => new URL(path, BASE).href;
const modelPath = (arch) => `models/${arch}-f32.gguf`;
const TEST_IMAGES = "data/t10k-images-idx3-ubyte";
const TEST_LABELS = "data/t10k-labels-idx1-ubyte";
const INIT_STEPS = 4;

let app = null; // mnist_core.browser.App (a PyProxy)

async function fetchBytes(path) {
  const response = await fetch(url(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

function progress(step, text) {
  self.postMessage({ type: "progress", step, steps: INIT_STEPS, text });
}

// A Python call's result (a dict) as a plain JS object; bytes become Uint8Array.
function toJs(proxy) {
  try {
    return proxy.toJs({ dict_converter: Object.fromEntries });
  } finally {
    proxy.destroy();
  }
}

async function init({ arch }) {
  // Start every download at once; Python starts while they arrive.
  const model = fetchBytes(modelPath(arch));
  const images = fetchBytes(TEST_IMAGES);
  const labels = fetchBytes(TEST_LABELS);
  for (const download of [model, images, labels]) download.catch(() => {}); // reported where awaited
  const phases = {}; // phase -> ms, for bench/bench_web.py
  let mark = performance.now();
  const phase = (name) => {
    const now = performance.now();
    phases[name] = now - mark;
    mark = now;
  };
  phases.workerStart = mark; // since the worker's own time origin

  progress(0, "Loading Python, NumPy and mnist_core (Pyodide)…");
  // Packages named here load while the interpreter starts, rather than after it.
  let pyodide;
  try {
    pyodide = await loadPyodide({
      indexURL: url("pyodide/"),
      lockFileURL: url("pyodide/pyodide-lock.json"),
      packages: ["numpy", "mnist_core"],
    });
  } catch (error) {
    // Say which part failed: the page's checks passed, so the files are there but something in them is not.
    throw new Error(`Python (Pyodide, from pyodide/) failed to start: ${error && error.message ? error.message : error}`);
  }
  phase("pyodide");
  progress(1, "Starting mnist_core…");
  const { App } = pyodide.pyimport("mnist_core.browser");
  app = App();
  phase("import");
  progress(2, `Loading the ${arch} model…`);
  toJs(app.load_model(arch, await model, modelPath(arch)));
  phase("model");
  progress(3, "Loading the MNIST test images…");
  const testSet = toJs(app.load_test_set(await images, await labels));
  phase("testSet");
  return { arch, testImages: testSet.count, phases };
}

async function selectModel({ arch }) {
  if (!app.has_model(arch)) {
    const bytes = await fetchBytes(modelPath(arch));
    const started = performance.now();
    toJs(app.load_model(arch, bytes, modelPath(arch)));
    return { arch, loaded: true, ms: performance.now() - started };
  }
  toJs(app.select_model(arch));
  return { arch, loaded: false, ms: 0 };
}

// Each prediction is timed here, around the Python call: what one prediction costs in the worker.
function timed(call) {
  const started = performance.now();
  const result = toJs(call());
  result.ms = performance.now() - started;
  return result;
}

// The whole test set through the selected model (mnist_core/browser/evaluation.py); progress goes
// out as {type: "evaluation-progress", done, total} while Python runs.
function evaluateTestSet() {
  const report = (done, total) => self.postMessage({ type: "evaluation-progress", done, total });
  return toJs(app.evaluate_test_set(report));
}

// A GGUF file the user opened (a File): too large a file is refused before its bytes are read.
// A file that is not a model we can run answers {error: "NAME: problem"} (model_files.py).
async function openModelFile({ file }) {
  const checked = toJs(app.check_model_file(file.name, file.size));
  if (checked.error) return checked;
  return toJs(app.open_model_file(new Uint8Array(await file.arrayBuffer()), file.name));
}

const notify = (message) => self.postMessage(message); // a notice that answers no request

const handlers = {
  init,
  model: selectModel,
  predict: ({ pixels, width, height, centre }) => timed(() => app.predict_canvas(pixels, width, height, centre)),
  random: () => timed(() => app.random_sample()),
  sample: ({ index }) => timed(() => app.sample(index)),
  evaluate: evaluateTestSet,
  cell: ({ label, predicted, nth }) => timed(() => app.confusion_sample(label, predicted, nth)),
  "open-model": openModelFile,
  // Learning from corrections, keeping models, training in the page (worker-learning.js, worker-training.js).
  ...learningHandlers({ getApp: () => app, toJs, fetchBytes, modelPath, notify }),
  ...trainingHandlers({ getApp: () => app, toJs, fetchBytes, notify }),
};

self.onmessage = async ({ data }) => {
  const { id, type } = data;
  try {
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request ${type}`);
    if (type !== "init" && app === null) throw new Error("not ready yet");
    const result = await handler(data);
    const transfer = result && result.image28 ? [result.image28.buffer] : [];
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (error) {
    self.postMessage({ id, ok: false, error: String(error && error.message ? error.message : error) });
  }
};
