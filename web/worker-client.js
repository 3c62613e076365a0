// The page's side of web/worker.js: requests with ids, answered by promises.

let worker = null;  // started by startWorker(), as soon as the browser can run it (startup.js)
const pending = new Map();
let nextId = 1;
const progressListeners = [];
const errorListeners = [];

// Send a request; the promise settles with the worker's result or its error message.
export function call(type, payload = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    if (worker === null) throw new Error("the worker has not been started");
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, type, ...payload }, transfer);
  });
}

// Progress messages ({type: "progress", ...}) and the worker's own failure, for whoever listens.
export const onProgress = (listener) => progressListeners.push(listener);
export const onWorkerError = (listener) => errorListeners.push(listener);

// Other messages that answer no request ({type, ...} without an id), by type.
const noticeListeners = new Map();
export function onNotice(type, listener) {
  noticeListeners.set(type, [...(noticeListeners.get(type) || []), listener]);
}

// The worker index.html started as the page was parsed (window.earlyWorker), with what it said meanwhile; or, where
// there is none, a new one, told to fetch the large files itself (python-start.js).
export function startWorker(early = window.earlyWorker) {
  worker = early ? early.worker : new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  worker.onmessage = receive;
  worker.onerror = failed;
  if (early) {
    early.messages.forEach(receive);
    early.errors.forEach(failed);
  } else {
    for (const name of ["snapshot", "wasm"]) worker.postMessage({ type: "early-file", name, error: "no early worker" });
  }
}

// A worker index.html started, where the page finds it cannot go on.
export function stopEarlyWorker(early = window.earlyWorker) {
  if (early) early.worker.terminate();
}

// The site's checks found a problem: the worker stops, and its requests are left unanswered.
export function stopWorker() {
  worker.terminate();
  pending.clear();
}

function receive({ data }) {
  if (data.type === "progress") {
    progressListeners.forEach((listener) => listener(data));
    return;
  }
  if (data.id === undefined) {
    (noticeListeners.get(data.type) || []).forEach((listener) => listener(data));
    return;
  }
  const request = pending.get(data.id);
  pending.delete(data.id);
  if (data.ok) request.resolve(data.result);
  else request.reject(new Error(data.error));
}

function failed(event) {
  const error = new Error(event.message || "the worker failed to start");
  errorListeners.forEach((listener) => listener(error));
}
