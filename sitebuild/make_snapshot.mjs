// Make the page's memory snapshot under Node (run by sitebuild/snapshot.py; web/python-start.js
// restores it and says what it relies on):
//
//   node make_snapshot.mjs PYODIDE_DIR PYTHON_START FILES KEY OUT
//
// PYODIDE_DIR holds the runtime the site serves; PYTHON_START is web/python-start.js (the same
// functions write the files and load the extension modules here and in the page); FILES is
// FILES.json ([[path, size]]) with FILES.bin (their bytes): NumPy and mnist_core as site-packages.
// Python starts twice: once to learn which extension modules the imports load, then with exactly
// those loaded before the interpreter starts, the imports made, and the snapshot taken. Entropy and
// clocks are deterministic here, so the same inputs give the same bytes.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, pythonStart, filesPath, key, out] = process.argv.slice(2);
// What the snapshot holds: mnist_core.browser imported, and what making an App imports (numpy.random).
const IMPORTS = "import gc, numpy, mnist_core.browser; mnist_core.browser.App(); gc.collect()";

let state = 0x9e3779b9; // xorshift32
globalThis.crypto.getRandomValues = (view) => {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) {
    state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
    bytes[i] = state & 255;
  }
  return view;
};
let clock = Date.UTC(2024, 0, 1);
Date.now = () => (clock += 1);
let monotonic = 0;
performance.now = () => (monotonic += 0.25);

const indexURL = `${pyodideDir}/`;
const { loadPyodide } = await import(pathToFileURL(`${indexURL}pyodide.mjs`).href);
await import(pathToFileURL(`${indexURL}pyodide.asm.js`).href);
const start = await import(pathToFileURL(pythonStart).href);

const listing = JSON.parse(readFileSync(`${filesPath}.json`, "utf8"));
const data = readFileSync(`${filesPath}.bin`);
let at = 0;
const files = listing.map(([path, size]) => [path, new Uint8Array(data.buffer, data.byteOffset + (at += size) - size, size)]);

async function python(libraries) {
  const code = new Map(files);
  start.hookNextStart({ preRun: (Module) => {
    start.installFiles(Module, files);
    start.preloadLibraries(Module, libraries.map((path) => [path, code.get(path)]));
  } });
  const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true, env: { PYTHONHASHSEED: "0" } });
  pyodide.runPython(IMPORTS);
  return pyodide;
}

try {
  const libraries = start.loadedLibraries((await python([]))._module);
  const pyodide = await python(libraries);
  const loaded = start.loadedLibraries(pyodide._module);
  if (loaded.join("\n") !== libraries.join("\n")) throw new Error(`extension modules loaded late: ${loaded}`);
  // Pyodide's snapshot refuses a loadedPackages table that is not a fresh one (the import hook fills it).
  for (const name of Object.keys(pyodide.loadedPackages)) delete pyodide.loadedPackages[name];
  const memory = pyodide.makeMemorySnapshot();
  writeFileSync(out, start.encodeSnapshot({ key, files, libraries, memory }));
  console.log(JSON.stringify({ libraries, memory: memory.length }));
} catch (error) {
  console.error(error && error.stack ? error.stack.split("\n").slice(0, 6).join("\n") : String(error));
  process.exit(1);
}
