// Make the page's memory snapshot under Node (run by sitebuild/snapshot.py; web/python-start.js
// restores it, web/python-snapshot.js says what it relies on):
//
//   node make_snapshot.mjs PYODIDE_DIR HOOK FILES KEY OUT REST
//
// PYODIDE_DIR holds the runtime the site serves; HOOK is web/python-snapshot.js (the same
// functions write the files and load the extension modules here and in the page); FILES is
// FILES.json ([[path, size]]) with FILES.bin (their bytes): NumPy and mnist_core as site-packages.
// Python starts twice: once to learn which extension modules the imports load, then with exactly
// those loaded before the interpreter starts, the imports made, and the snapshot taken; then the
// snapshot is restored once, as the page restores it, to see the memory a restore begins with (what
// of it the page need not write) and that it restores. OUT gets what the page needs before it is
// ready (those modules' code and the memory), REST the other files, which the page installs after
// it. Entropy and clocks are deterministic here, so the same inputs give the same bytes.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, hook, filesPath, key, out, rest] = process.argv.slice(2);
// Emscripten hands Python this process's program and arguments (sys.argv), and the snapshot keeps them: a
// name of no place instead, so that the same inputs give the same bytes whichever checkout makes them.
process.argv.splice(1, Infinity, "make_snapshot.mjs");
// What the snapshot holds: mnist_core.browser imported, and what making an App imports.
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
const page = await import(pathToFileURL(hook).href); // web/python-snapshot.js

const listing = JSON.parse(readFileSync(`${filesPath}.json`, "utf8"));
const data = readFileSync(`${filesPath}.bin`);
let at = 0;
const files = listing.map(([path, size]) => [path, new Uint8Array(data.buffer, data.byteOffset + (at += size) - size, size)]);
const code = new Map(files); // each file's bytes by its path

// The two blobs the page reads (web/python-snapshot.js writes their layout down): a header, then parts.
function encodeBlob(header, parts) {
  const json = new TextEncoder().encode(JSON.stringify({ format: page.SNAPSHOT_FORMAT, key, ...header }));
  const magic = new TextEncoder().encode(page.SNAPSHOT_MAGIC);
  parts = [magic, new Uint8Array(new Uint32Array([json.length]).buffer), json, ...parts];
  const blob = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    blob.set(part, at);
    at += part.length;
  }
  return blob;
}

function encodeSnapshot(libraries, memory, before) {
  const { runs, kept } = memoryRuns(memory, before);
  return encodeBlob({ libraries: libraries.map(([path, bytes]) => [path, bytes.length]), memory: { bytes: memory.length, runs, kept } },
                    [...libraries.map(([, bytes]) => bytes), ...runs.map(([offset, length]) => memory.subarray(offset, offset + length))]);
}

const encodeRest = (files) => encodeBlob({ files: files.map(([path, bytes]) => [path, bytes.length]) },
                                         files.map(([, bytes]) => bytes));

const PAGE = 4096;
const ZEROS = Buffer.alloc(PAGE);

// Pyodide's snapshot `memory` (its header, then the wasm memory) a 4 KiB page at a time: pages of
// zeros left out; pages the wasm memory already holds when the restore begins (`before`) kept; the
// others stored. {runs: stored, kept}, each [[offset, length]], neighbours merged.
function memoryRuns(memory, before) {
  const skip = memory.length - before.length; // Pyodide's header
  const runs = [], kept = [];
  const add = (list, start, end) => {
    const last = list[list.length - 1];
    if (last && last[0] + last[1] === start) last[1] += end - start;
    else list.push([start, end - start]);
  };
  const bytes = (view, start, end) => Buffer.from(view.buffer, view.byteOffset + start, end - start);
  for (let start = 0; start < memory.length; start += PAGE) {
    const end = Math.min(start + PAGE, memory.length);
    const page = bytes(memory, start, end);
    if (page.equals(ZEROS.subarray(0, end - start))) continue;
    if (start >= skip && page.equals(bytes(before, start - skip, end - skip))) add(kept, start, end);
    else add(runs, start, end);
  }
  return { runs, kept };
}

// The libraries Emscripten's linker has loaded, in order (the main module left out).
const loadedLibraries = (Module) => Object.keys(Module.LDSO.loadedLibsByName).filter((name) => name.startsWith("/"));

// The preloaded libraries' files are left empty: CPython's import of an extension module goes through
// Emscripten's dlopen, which reads the whole file into the wasm heap before the linker finds the library
// loaded already, and never frees that copy, which would put the libraries' code (4.6 MB) into the
// memory a second time. Empty, the copy is nothing; the files need only be there for the import to find.
const EMPTY = new Uint8Array(0);

async function python(libraries) {
  page.hookNextStart({ preRun: (Module) => {
    page.installFiles(Module, files.map(([path, bytes]) => [path, libraries.includes(path) ? EMPTY : bytes]));
    page.preloadLibraries(Module, libraries.map((path) => [path, code.get(path)]));
  } });
  const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true, env: { PYTHONHASHSEED: "0" } });
  pyodide.runPython(IMPORTS);
  return pyodide;
}

// snapshot.bin for `memory`, made inside a restore of it under Node, as the page restores it (the
// same libraries loaded the same way first): there the wasm memory is as a restore finds it when it
// is about to be written (the runtime's static data, the extension modules' as the linker leaves
// them), which tells the pages the blob need not hold. The blob is then decoded and written as the
// page does (decodeSnapshot, writeMemory), the result compared with `memory`, and the restore
// finished, to show that it restores with the imports made.
async function snapshotBlob(libraries, memory) {
  const withCode = libraries.map((path) => [path, code.get(path)]);
  let blob = null;
  page.hookNextStart({
    preRun: (Module) => page.preloadLibraries(Module, withCode),
    restoreSnapshot: (original, _, Module) => {
      blob = encodeSnapshot(withCode, memory, Module.HEAPU8);
      const header = page.writeMemory(Module.HEAPU8, page.decodeSnapshot(blob).memory);
      if (!Buffer.from(Module.HEAPU8.buffer).equals(memory.subarray(header.length))) {
        throw new Error("the snapshot, written as the page writes it, is not the memory it was made from");
      }
      return original(header);
    },
  });
  const pyodide = await loadPyodide({ indexURL, _loadSnapshot: memory });
  if (!pyodide.runPython("import sys; 'mnist_core.browser' in sys.modules")) throw new Error("restored without its imports");
  return blob;
}

try {
  const libraries = loadedLibraries((await python([]))._module);
  const pyodide = await python(libraries);
  const loaded = loadedLibraries(pyodide._module);
  if (loaded.join("\n") !== libraries.join("\n")) throw new Error(`extension modules loaded late: ${loaded}`);
  // Pyodide's snapshot refuses a loadedPackages table that is not a fresh one (the import hook fills it).
  for (const name of Object.keys(pyodide.loadedPackages)) delete pyodide.loadedPackages[name];
  const memory = pyodide.makeMemorySnapshot();
  writeFileSync(out, await snapshotBlob(libraries, memory));
  writeFileSync(rest, encodeRest(files.filter(([path]) => !libraries.includes(path))));
  console.log(JSON.stringify({ libraries, memory: memory.length }));
} catch (error) {
  console.error(error && error.stack ? error.stack.split("\n").slice(0, 6).join("\n") : String(error));
  process.exit(1);
}
