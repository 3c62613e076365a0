// The Web Worker: runs Pyodide and mnist_core.browser.App off the page's thread, so drawing never
// waits for Python. The protocol (request types, arguments, results, errors and notices) is written
// down once, in mnist_core/browser/app.py: a request's type is the name of an App method, and most
// requests are passed straight to it. The handlers below are the requests that need the worker's
// own work too (fetching files from the page's own origin, reading a File, running in the background).
import { loadPyodide } from "./pyodide/pyodide.mjs";
import { startPython } from "./python-start.js";
import { learningHandlers } from "./worker-learning.js";
import { trainingHandlers } from "./worker-training.js";

const BASE = new URL("./", self.location.href);
const url = (path) => new URL(path, BASE).href;
const SHIPPED = ["mnist-fc", "mnist-cnn"];
const modelPath = (arch) => `models/${arch}-f32.gguf`;
const TEST_IMAGES = "data/t10k-images-idx3-ubyte";
const TEST_LABELS = "data/t10k-labels-idx1-ubyte";
const INIT_STEPS = 3;

let app = null; // mnist_core.browser.App (a PyProxy)

// The snapshot's bytes and the compiled runtime, as the page hands them over ("early-file" messages: the page
// asked for them while it was parsed); each rejects when the page could not get it (the worker then fetches it).
const earlyFiles = {};
for (const name of ["snapshot", "wasm"]) {
  let settle;
  earlyFiles[name] = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  earlyFiles[name].settle = settle;
  earlyFiles[name].catch(() => {});
}
function receiveEarlyFile({ name, value, error }) {
  const file = earlyFiles[name];
  if (!file) return;
  if (error === undefined) file.settle.resolve(value);
  else file.settle.reject(new Error(error));
}
// Loaded after "init" has answered: the test set, and what a restored snapshot left for later (startPython's
// rest). The other requests wait for it; these do not: a test (tests/test_snapshot.py) checks that they work
// without the rest, importing nothing new.
let afterReady = null;
const AT_ONCE = new Set(["init", "predict_canvas", "read_number", "select_model"]);

async function fetchBytes(path) {
  const response = await fetch(url(path));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

const notify = (message) => self.postMessage(message); // a notice: it answers no request

function progress(step, text) {
  notify({ type: "progress", step, steps: INIT_STEPS, text });
}

// A Python call's result (a dict) as a plain JS object; bytes become Uint8Array.
function toJs(proxy) {
  if (proxy === null || proxy === undefined || typeof proxy !== "object") return proxy; // bool, number, None
  try {
    return proxy.toJs({ dict_converter: Object.fromEntries });
  } finally {
    proxy.destroy();
  }
}

// App.<type>(**args): the arguments by name, as the protocol gives them. Only App's public methods answer.
function callApp(type, args = {}) {
  const method = typeof type === "string" && !type.startsWith("_") ? app[type] : undefined;
  if (typeof method !== "function") throw new Error(`unknown request ${type}`);
  try {
    return toJs(method.callKwargs(args));
  } finally {
    method.destroy();
  }
}

// When each step ended (epoch ms: the page puts them on its own clock), for bench/bench_web.py.
const marks = {};
const mark = (name) => { marks[name] = performance.timeOrigin + performance.now(); };
mark("workerRunning");

// Python starts as soon as the worker runs (index.html starts the worker as the page is parsed); init waits for it.
const python = startPython({
  loadPyodide, site: BASE, options: { indexURL: url("pyodide/"), lockFileURL: url("pyodide/pyodide-lock.json") },
  packages: ["numpy", "mnist_core"], mark, early: earlyFiles,
});
python.catch(() => {}); // reported by init

async function init({ arch }) {
  // The model downloads while Python starts; the test set only once the page is ready (it would
  // compete with the start for the connections and the cores).
  const model = fetchBytes(modelPath(arch));
  model.catch(() => {}); // reported where awaited
  progress(0, "Loading Python, NumPy and mnist_core (Pyodide)…");
  let started;
  try {
    started = await python;
  } catch (error) {
    // Say which part failed: the page's checks passed, so the files are there but something in them is not.
    throw new Error(`Python (Pyodide, from pyodide/) failed to start: ${error && error.message ? error.message : error}`);
  }
  const { pyodide } = started;
  progress(1, "Starting mnist_core…");
  const { App } = pyodide.pyimport("mnist_core.browser");
  app = App();
  mark("imported");
  progress(2, `Loading the ${arch} model…`);
  callApp("load_shipped_model", { arch, gguf_bytes: await model });
  mark("modelLoaded");
  // Ready to predict: the rest of Python's files and the test set (for Random and evaluation) load after this answer.
  afterReady = Promise.all([started.rest(), fetchBytes(TEST_IMAGES), fetchBytes(TEST_LABELS)])
    .then(([, images, labels]) => {
      const { count } = callApp("load_test_set", { images_bytes: images, labels_bytes: labels });
      notify({ type: "test-set", count });
    });
  afterReady.catch(() => {}); // the requests that wait for it report it
  return { model: arch, marks, start: started.start, startReason: started.reason };
}

// A shipped model is fetched the first time it is selected (or again after forgetting what it learned).
async function selectModel({ name }) {
  if (SHIPPED.includes(name) && !callApp("has_model", { name })) {
    const bytes = await fetchBytes(modelPath(name));
    const started = performance.now();
    const model = callApp("load_shipped_model", { arch: name, gguf_bytes: bytes });
    return { ...model, loaded: true, ms: performance.now() - started };
  }
  return { ...callApp("select_model", { name }), loaded: false, ms: 0 };
}

// Predictions and explanations are timed here, around the Python call: what one costs in the worker.
function timed(type, args) {
  const started = performance.now();
  const result = callApp(type, args);
  result.ms = performance.now() - started;
  return result;
}

// Progress goes out as notices while Python runs.
function evaluateTestSet() {
  const report = (done, total) => notify({ type: "evaluation-progress", done, total });
  return callApp("evaluate_test_set", { progress: report });
}

// A GGUF file the user opened (a File): too large a file is refused before its bytes are read.
async function openModelFile({ file }) {
  const checked = callApp("check_model_file", { file_name: file.name, size: file.size });
  if (checked.error) return checked;
  return callApp("open_model_file", { data: new Uint8Array(await file.arrayBuffer()), file_name: file.name });
}

const handlers = {
  init,
  select_model: selectModel,
  predict_canvas: (args) => timed("predict_canvas", args),
  read_number: (args) => timed("read_number", args),
  random_sample: (args) => timed("random_sample", args),
  sample: (args) => timed("sample", args),
  confusion_sample: (args) => timed("confusion_sample", args),
  explain: (args) => timed("explain", args),
  occlude_image: (args) => timed("occlude_image", args),
  evaluate_test_set: evaluateTestSet,
  open_model_file: openModelFile,
  ...learningHandlers({ callApp, fetchBytes, notify }),
  ...trainingHandlers({ callApp, fetchBytes, notify }),
};

self.onmessage = async ({ data }) => {
  if (data.type === "early-file" && data.id === undefined) return receiveEarlyFile(data);
  const { id, type, ...args } = data;
  try {
    if (type !== "init" && app === null) throw new Error("not ready yet");
    if (!AT_ONCE.has(type)) await afterReady;
    const handler = handlers[type];
    const result = handler ? await handler(args) : callApp(type, args);
    const transfer = result && result.image28 ? [result.image28.buffer] : [];
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (error) {
    self.postMessage({ id, ok: false, error: String(error && error.message ? error.message : error) });
  }
};
