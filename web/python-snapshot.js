// The page's memory snapshot as the make (sitebuild/make_snapshot.mjs, under Node at build time) and the
// restore (python-start.js, in the worker) share it: the layout of its two blobs, and the hooks into
// Pyodide's start under which a restored memory finds everything where it was when the snapshot was
// made. Both halves import this file, and it is one of the snapshot's inputs (its key changes with it).
//
// The snapshot (pyodide/snapshot.bin) is Python's memory after `import numpy, mnist_core.browser`,
// with the code of the extension modules those imports loaded; NumPy's and mnist_core's other files
// are pyodide/snapshot-rest.bin, which the page installs after it is ready.
//
// Pyodide 0.27.7's private API this relies on (checked by the tests in Chromium, Firefox, WebKit
// and Node; a new Pyodide version needs a look at each):
//   loadPyodide({_makeSnapshot: true}), pyodide.makeMemorySnapshot()   make (Node, at build time)
//   loadPyodide({_loadSnapshot: bytes})                                 restore (it sizes the wasm
//       memory by the bytes' length, and reads them only in API.restoreSnapshot)
//   globalThis._createPyodideModule (pyodide.asm.js's factory): wrapped once to add a preRun hook,
//       our own instantiateWasm and our own API.restoreSnapshot (the factory's settings are
//       Emscripten's Module); the loader's own fetch of the wasm, for the instantiateWasm ours
//       replaces, is answered never (python-start.js)
//   Module.FS, Module.newDSO, Module.loadWebAssemblyModule, Module.LDSO (Emscripten 3.1.58's
//       dynamic linker), Module.wasmTable (NumPy's slots start at TABLE_BASE)
//   Module.__PyRuntime, Module.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET, Module._PyEM_CountArgsPtr
//   pyodide.loadedPackages (emptied before the snapshot: its JS object must be as a fresh one)
//   the loader's own fetch of the standard library (its stdLibURL), answered with no bytes in a
//       restore: the zip is written where the loader wrote it (stdlibPath) after ready
// and on these facts about it:
//   - the snapshot holds the wasm memory only. NumPy's extension modules (wasm side modules) live
//     outside it: their code, their slots in the function table. So the ones imported before the
//     snapshot are loaded again before the interpreter starts, in the same order, at the same
//     point of start-up (the last preRun hook, synchronously), where the memory they get and
//     their table slots are the same as when the snapshot was made. The files live outside it
//     too (Emscripten's file system is JavaScript): they are written back after ready, with the
//     standard library's zip, whose directory zipimport keeps in memory from when the snapshot was
//     made (the same bytes, checked). Until then an import of a module not yet imported would fail:
//     the worker lets only the requests through that import nothing new (tests/test_snapshot.py).
//   - one value in memory is per engine: the pointer to CPython's argument-counting trampoline
//     (pyodide.asm.js makes it in a preRun hook, 0 where the engine lacks wasm GC, as Node 20
//     does). It is put back after the restore (restored()).
//   - frozen into the snapshot, the same for every visitor: hash() randomisation (the maker sets
//     PYTHONHASHSEED=0), sys._emscripten_info (it names the Node that made it) and `random`'s
//     seed, which restored() reseeds from the browser's crypto.getRandomValues.

export const SNAPSHOT_FORMAT = 2;
export const SNAPSHOT_MAGIC = "mnist-core snapshot\n"; // the blob's first bytes, then its header's length (u32 LE)
export const FACTORY = "pyodide/pyodide.asm.js"; // the runtime's JavaScript: its factory

// ---------------------------------------------------------------- the blobs
// Both: MAGIC, u32 header length, header JSON {format, key, ...}, then parts. snapshot.bin's header
// has libraries: [[path, size]] and memory: {bytes, runs: [[offset, length]]}, its parts the
// libraries' code (in load order), then the memory's non-zero runs (a third of the memory is
// zeros). snapshot-rest.bin's has files: [[path, size]], its parts their bytes.
// sitebuild/make_snapshot.mjs writes them.

// {header, parts: [[path, bytes]] for header[listed], end: where they end}
function decodeBlob(blob, listed) {
  const magic = new TextEncoder().encode(SNAPSHOT_MAGIC);
  if (blob.length < magic.length + 4 || magic.some((byte, i) => blob[i] !== byte)) throw new Error("not a snapshot");
  const headerLength = new DataView(blob.buffer, blob.byteOffset + magic.length, 4).getUint32(0, true);
  let at = magic.length + 4;
  const header = JSON.parse(new TextDecoder().decode(blob.subarray(at, at + headerLength)));
  at += headerLength;
  const parts = header[listed].map(([path, size]) => {
    const part = [path, blob.subarray(at, at + size)];
    at += size;
    return part;
  });
  return { header, parts, end: at };
}

const checkEnd = (blob, at) => { if (at !== blob.length) throw new Error(`${blob.length - at} bytes more than its header says`); };

// snapshot.bin's parts: {header, libraries: [[path, bytes]], memory: {bytes, runs: [[offset, bytes]]}}
// (Pyodide's snapshot: its own header, then the wasm memory; views of `blob`, nothing copied).
export function decodeSnapshot(blob) {
  const { header, parts: libraries, end } = decodeBlob(blob, "libraries");
  let at = end;
  const runs = header.memory.runs.map(([offset, length]) => {
    if (offset < 0 || offset + length > header.memory.bytes) throw new Error(`a memory run past its ${header.memory.bytes} bytes`);
    const run = [offset, blob.subarray(at, at + length)];
    at += length;
    return run;
  });
  checkEnd(blob, at);
  return { header, libraries, memory: { bytes: header.memory.bytes, runs } };
}

// Write Pyodide's snapshot (`memory` as decodeSnapshot gives it) into the wasm memory `heap`, as its
// restoreSnapshot would from the whole of it (its own header first, then the memory) but without
// that copy of it: the non-zero runs copied straight from the blob, the rest zeroed.
// Returns Pyodide's header, for its restoreSnapshot, which then has no memory to copy.
export function writeMemory(heap, memory) {
  const [first] = memory.runs;
  if (!first || first[0] !== 0 || first[1].length < 8) throw new Error("no Pyodide header in the memory");
  const skip = new DataView(first[1].buffer, first[1].byteOffset, 8).getUint32(4, true); // its header's length
  if (memory.bytes - skip !== heap.length) throw new Error(`a memory of ${memory.bytes - skip} bytes, the wasm has ${heap.length}`);
  let zeroFrom = 0;
  for (const [offset, bytes] of memory.runs) {
    const from = Math.max(offset, skip) - skip;
    heap.fill(0, zeroFrom, from);
    heap.set(bytes.subarray(from + skip - offset), from);
    zeroFrom = offset + bytes.length - skip;
  }
  heap.fill(0, zeroFrom);
  return first[1].slice(0, skip); // a copy: Pyodide reads it as 32-bit words, which need an aligned buffer
}

// snapshot-rest.bin's parts: {header, files: [[path, bytes]]}.
export function decodeRest(blob) {
  const { header, parts: files, end } = decodeBlob(blob, "files");
  checkEnd(blob, end);
  return { header, files };
}

// ---------------------------------------------------------------- what the make and the restore share

// Write the snapshot's files (NumPy's and mnist_core's, in site-packages) into Emscripten's file
// system. The file system keeps the bytes given (canOwn), which nothing writes to.
export function installFiles(Module, files) {
  const directories = new Set(files.map(([path]) => path.slice(0, path.lastIndexOf("/"))));
  for (const directory of directories) Module.FS.mkdirTree(directory);
  for (const [path, bytes] of files) Module.FS.writeFile(path, bytes, { canOwn: true });
}

// Where the extension modules' function-table slots start: past what every engine's start-up has
// added by then (Node, Chromium and Firefox 11,916 slots; WebKit 13,070, as its table hands out new
// function objects, so Emscripten adds a slot for each function it finds there). The same in the
// make and the restore, so the modules' function pointers in the snapshot point at them.
const TABLE_BASE = 16384;

// Load extension modules ([[path, bytes or a compiled WebAssembly.Module]]) before the interpreter
// starts, as Pyodide's loadPackage loads a package's (API.loadDynlib: local symbols, never unloaded,
// also known by their file name), but synchronously, so that nothing takes a table slot in between:
// what Emscripten's loadDynamicLibrary does for a new library, with code that may be compiled already.
export function preloadLibraries(Module, libraries) {
  const table = Module.wasmTable;
  if (table.length > TABLE_BASE) {
    throw new Error(`this engine's start-up took ${table.length} function-table slots, more than the ${TABLE_BASE} ` +
                    "the snapshot leaves before NumPy's");
  }
  table.grow(TABLE_BASE - table.length);
  const flags = { loadAsync: false, global: false, nodelete: true, allowUndefined: true };
  for (const [path, code] of libraries) {
    const library = Module.newDSO(path, undefined, "loading");
    library.refcount = Infinity;
    library.global = false;
    const localScope = {};
    library.exports = Module.loadWebAssemblyModule(code, flags, path, localScope);
    Object.assign(localScope, library.exports);
    Module.LDSO.loadedLibsByName[path.slice(path.lastIndexOf("/") + 1)] ||= library;
  }
}

// Run `hooks` inside the next Pyodide start: `preRun(Module)` as the last of Pyodide's preRun
// hooks (after the file system is set up, before the interpreter starts), our own instantiateWasm,
// and restoreSnapshot(original, snapshot, Module) instead of Pyodide's API.restoreSnapshot(snapshot).
let factory = null; // pyodide.asm.js's own globalThis._createPyodideModule
export function hookNextStart({ preRun, instantiateWasm, restoreSnapshot }) {
  factory ||= globalThis._createPyodideModule;
  if (typeof factory !== "function") throw new Error(`${FACTORY} is not loaded`);
  globalThis._createPyodideModule = (settings) => {
    globalThis._createPyodideModule = factory;
    if (preRun) settings.preRun.unshift(preRun); // Emscripten runs Module.preRun from the last one
    if (instantiateWasm) settings.instantiateWasm = instantiateWasm;
    const created = factory(settings);
    if (!restoreSnapshot) return created;
    return created.then((Module) => { // loadPyodide calls it next, once this resolves
      const original = settings.API.restoreSnapshot;
      settings.API.restoreSnapshot = (snapshot) => restoreSnapshot(original, snapshot, Module);
      return Module;
    });
  };
}

// After a restore: the per-engine value, and the seeds reseeded (every visitor would share them).
export function restored(pyodide, packages) {
  const Module = pyodide._module;
  const offset = Module.HEAP32[Module.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET / 4];
  Module.HEAP32[(Module.__PyRuntime + offset) / 4] = Module._PyEM_CountArgsPtr;
  // Called through proxies, not runPython: Python's compiler is not needed yet (the engine compiles it on first use).
  const reseed = (module) => { module.seed(); module.destroy(); };
  reseed(pyodide.pyimport("random"));
  const modules = pyodide.pyimport("sys.modules");
  if (modules.has("numpy.random")) reseed(modules.get("numpy.random"));
  modules.destroy();
  for (const name of packages) pyodide.loadedPackages[name] = "snapshot"; // so that loadPackage leaves them
}

// Where Pyodide's start writes the standard library's zip: /lib/pythonXY.zip.
export function stdlibPath(pyodide) {
  const info = pyodide.pyimport("sys.version_info");
  try {
    return `/lib/python${info.major}${info.minor}.zip`;
  } finally {
    info.destroy();
  }
}
