// Start-up checks: can this browser run the page (browserProblem, before the worker starts), and
// has build_wasm.py put the runtime, the models and the test set next to it (siteProblem, while the
// worker starts)? Each problem comes back as one line saying what is missing and what to do, rather
// than "the worker failed to start".
//
// build_wasm.py writes build.json last (sitebuild/manifest.py): every generated file with its
// size. The page asks the server for each file's headers (HEAD, no download) and compares.

export const BUILD_MANIFEST = "build.json";
export const BUILD_FORMAT = 1;  // sitebuild/manifest.py's MANIFEST_FORMAT: bump both together

const BUILD = "run python build_wasm.py in the repository (or ./scripts/run-app.sh), then reload";
const REBUILD = "run python build_wasm.py again (or ./scripts/run-app.sh), then reload";

// What the worker needs before it can start; without build.json, what is checked instead.
export const REQUIRED_FILES = [
  "pyodide/pyodide.mjs", "pyodide/pyodide.asm.js", "pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip",
  "pyodide/pyodide-lock.json", "models/mnist-fc-f32.gguf", "models/mnist-cnn-f32.gguf",
  "data/t10k-images-idx3-ubyte", "data/t10k-labels-idx1-ubyte",
];
const BUILT_DIRS = ["pyodide", "models", "data"];

const problem = (kind, message) => ({ kind, message });

// What index.html found this browser can do (window.browserSupport: asked once there, before the worker starts).
export function browserProblem({ webAssembly, moduleWorkers } = window.browserSupport) {
  if (!webAssembly) {
    return problem("webassembly", "This browser has no WebAssembly (missing or turned off), which Python in the page " +
                                  "needs: turn it on, or use a current Chrome, Edge, Firefox or Safari.");
  }
  if (!moduleWorkers) {
    return problem("module-worker", "This browser cannot start module workers (Chrome 80+, Firefox 114+ and " +
                                    "Safari 15+ can), which the page runs Python in: update the browser.");
  }
  return null;
}

// The server's answer for `path`, without the body: {path, status, size, type}, or {path, error}
// when the server could not be asked at all.
async function head(path) {
  try {
    const response = await fetch(path, { method: "HEAD", cache: "no-store" });
    const length = response.headers.get("content-length");
    // A compressed response's length is not the file's.
    const size = length === null || response.headers.has("content-encoding") ? null : Number(length);
    return { path, status: response.status, size, type: response.headers.get("content-type") || "" };
  } catch (error) {
    return { path, error };
  }
}

const list = (paths) => paths.length <= 3 ? paths.join(", ") : `${paths.slice(0, 3).join(", ")} and ` +
                                                                 `${paths.length - 3} more`;

// What is wrong with the files' answers, given what the manifest says (null: no manifest).
function filesProblem(answers, manifest) {
  const missing = answers.filter((a) => a.status === 404).map((a) => a.path);
  if (missing.length) {
    if (!manifest && missing.length === answers.length) {
      const dirs = BUILT_DIRS.map((dir) => `${dir}/`).join(", ");
      return problem("unbuilt", `This page is not built yet (${dirs} and ${BUILD_MANIFEST} are missing): ${BUILD}.`);
    }
    return problem("missing", `Missing from the site: ${list(missing)}: ${REBUILD}.`);
  }
  const failed = answers.find((a) => a.status < 200 || a.status >= 300);
  if (failed) {
    return problem("server", `The server answered HTTP ${failed.status} for ${failed.path}: check that it serves ` +
                             `the web/ folder (./scripts/run-app.sh does), then reload.`);
  }
  if (manifest) {
    const wrong = answers.find((a) => a.size !== null && a.size !== manifest.files[a.path].size);
    if (wrong) {
      return problem("corrupt", `${wrong.path} is ${wrong.size} bytes, but the build wrote ` +
                                `${manifest.files[wrong.path].size} (damaged, or left from another build): ${REBUILD}.`);
    }
  }
  const runtime = answers.find((a) => a.path === "pyodide/pyodide.mjs");
  if (runtime && runtime.type && !/javascript|ecmascript/i.test(runtime.type)) {
    return problem("mime", `The server sends pyodide/pyodide.mjs as "${runtime.type}", and browsers only run ` +
                           `JavaScript modules sent as text/javascript: serve web/ with ./scripts/run-app.sh.`);
  }
  return null;
}

// The first problem with the site that keeps the page from starting, as {kind, message}; null when
// there is none, or when the server could not be asked (offline behind a service worker, say).
// (A page opened as a file never gets here: index.html says what to do, as modules do not run there.)
export async function siteProblem() {
  // Under the site's service worker every file comes from its cache, which holds one build whose every file
  // it checked by sha256 (sw.js): the server has nothing to add, and a repeat visit sends it no requests.
  if (navigator.serviceWorker && navigator.serviceWorker.controller) return null;
  // The manifest and the files every build has, asked for at once; then whatever else it lists.
  const manifestRequest = fetch(BUILD_MANIFEST, { cache: "no-store" }).catch(() => null);
  const [response, required] = await Promise.all([manifestRequest, Promise.all(REQUIRED_FILES.map(head))]);
  if (response === null || required.some((a) => a.error)) return null;
  if (response.status === 404) {
    return filesProblem(required, null) ||
      problem("stale", `This site was built by an older build_wasm.py (there is no ${BUILD_MANIFEST}): ${REBUILD}.`);
  }
  if (!response.ok) return filesProblem([{ path: BUILD_MANIFEST, status: response.status }], null);
  let manifest;
  try {
    manifest = await response.json();
  } catch {
    return problem("corrupt", `${BUILD_MANIFEST} is not valid JSON (damaged): ${REBUILD}.`);
  }
  if (manifest.format !== BUILD_FORMAT || typeof manifest.files !== "object" || manifest.files === null) {
    return problem("stale", `This site was built by another version of build_wasm.py (build format ` +
                            `${manifest.format}, this page needs ${BUILD_FORMAT}): ${REBUILD}.`);
  }
  const unlisted = REQUIRED_FILES.filter((path) => !(path in manifest.files));
  if (unlisted.length) {
    return problem("stale", `${BUILD_MANIFEST} does not list ${list(unlisted)} (an older or partial build): ${REBUILD}.`);
  }
  const others = await Promise.all(Object.keys(manifest.files).filter((path) => !REQUIRED_FILES.includes(path))
    .map(head));
  if (others.some((a) => a.error)) return null;
  return filesProblem([...required, ...others], manifest);
}
