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
//       dynamic linker), Module.wasmTable (NumPy's slots start at TABLE_BASE),
//       Module.addRunDependency / removeRunDependency (a preRun hook that waits)
//   Module.__PyRuntime, Module.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET, Module._PyEM_CountArgsPtr
//   pyodide.loadedPackages (emptied before the snapshot: its JS object must be as a fresh one)
//   the loader's own fetch of the standard library (its stdLibURL), answered with no bytes in a
//       restore: the zip is written where the loader wrote it (stdlibPath) after ready
//   API.finalizeBootstrap's Python source, in a restore (bootstrapWithoutCompiler): API.rawRun,
//       API.runPythonInternal, API.runPythonInternal_dict and API._pyodide._base.eval_code, replaced
//       for its one call; Module.pyproxy_new, Module._PyImport_ImportModule, _PyModule_GetDict,
//       _PyDict_New, _Py_DecRef, _PyErr_Clear, stringToNewUTF8, _free
// and on these facts about it:
//   - the snapshot holds the wasm memory only. NumPy's extension modules (wasm side modules) live
//     outside it: their code, their slots in the function table. So the ones imported before the
//     snapshot are loaded again before the interpreter starts, in the same order, at the same
//     point of start-up (the last preRun hook, all in one go), where the memory they get and
//     their table slots are the same as when the snapshot was made. The files live outside it
//     too (Emscripten's file system is JavaScript): they are written back after ready, with the
//     standard library's zip, whose directory zipimport keeps in memory from when the snapshot was
//     made (the same bytes, checked). Until then an import of a module not yet imported would fail:
//     the worker lets only the requests through that import nothing new (tests/test_snapshot.py).
//   - what the wasm memory holds when the restore begins (the runtime's static data and the
//     extension modules', as the wasm's data segments and the linker write them) is the same in
//     every engine, but for any value an engine's own linker chose, which is then the right one
//     for it: the pages the snapshot has unchanged from then are not in it (its kept runs).
//   - one value in memory is per engine: the pointer to CPython's argument-counting trampoline
//     (pyodide.asm.js makes it in a preRun hook, 0 where the engine lacks wasm GC, as Node 20
//     does). It is put back after the restore (restored()).
//   - frozen into the snapshot, the same for every visitor: hash() randomisation (the maker sets
//     PYTHONHASHSEED=0), sys._emscripten_info (it names the Node that made it) and `random`'s
//     seed, which restored() reseeds from the browser's crypto.getRandomValues.

export const SNAPSHOT_FORMAT = 3;
export const SNAPSHOT_MAGIC = "mnist-core snapshot\n"; // the blob's first bytes, then its header's length (u32 LE)
export const FACTORY = "pyodide/pyodide.asm.js"; // the runtime's JavaScript: its factory

// ---------------------------------------------------------------- the blobs
// Both: MAGIC, u32 header length, header JSON {format, key, ...}, then parts. snapshot.bin's header
// has libraries: [[path, size]] and memory: {bytes, runs: [[offset, length]], kept: [[offset,
// length]]}, its parts the libraries' code (in load order), then the memory's runs. The memory
// elsewhere is zeros (a third of it), or, in the kept runs, already what it should be when the
// restore begins: the runtime's static data and the extension modules' as the linker leaves them,
// which Python never changed (the maker restores the snapshot once to see which those are).
// snapshot-rest.bin's has files: [[path, size]], its parts their bytes.
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

// snapshot.bin's parts: {header, libraries: [[path, bytes]], memory: {bytes, runs: [[offset, length,
// bytes or null for a kept run]]}} (Pyodide's snapshot: its own header, then the wasm memory; the runs
// in order; views of `blob`, nothing copied).
export function decodeSnapshot(blob) {
  const { header, parts: libraries, end } = decodeBlob(blob, "libraries");
  const { bytes, runs: stored, kept } = header.memory;
  let at = end;
  const runs = stored.map(([offset, length]) => [offset, length, blob.subarray(at, (at += length))]);
  checkEnd(blob, at);
  runs.push(...kept.map(([offset, length]) => [offset, length, null]));
  runs.sort((a, b) => a[0] - b[0]);
  let free = 0; // where the runs so far end
  for (const [offset, length] of runs) {
    if (offset < free || offset + length > bytes) throw new Error(`memory runs overlapping or past its ${bytes} bytes`);
    free = offset + length;
  }
  return { header, libraries, memory: { bytes, runs } };
}

// Write Pyodide's snapshot (`memory` as decodeSnapshot gives it) into the wasm memory `heap`, as its
// restoreSnapshot would from the whole of it (its own header first, then the memory) but without
// that copy of it: the runs copied straight from the blob, the kept ones left, the rest zeroed.
// Returns Pyodide's header, for its restoreSnapshot, which then has no memory to copy.
export function writeMemory(heap, memory) {
  const [[start, length, first]] = memory.runs;
  if (start !== 0 || !first || length < 8) throw new Error("no Pyodide header in the memory");
  const skip = new DataView(first.buffer, first.byteOffset, 8).getUint32(4, true); // its header's length
  if (memory.bytes - skip !== heap.length) throw new Error(`a memory of ${memory.bytes - skip} bytes, the wasm has ${heap.length}`);
  let zeroFrom = 0;
  for (const [offset, length, bytes] of memory.runs) {
    const from = Math.max(offset, skip) - skip;
    heap.fill(0, zeroFrom, from);
    if (bytes) heap.set(bytes.subarray(from + skip - offset), from);
    zeroFrom = offset + length - skip;
  }
  heap.fill(0, zeroFrom);
  return first.slice(0, skip); // a copy: Pyodide reads it as 32-bit words, which need an aligned buffer
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
// hooks (after the file system is set up, before the interpreter starts; when it returns a promise,
// the start waits for it, as an Emscripten run dependency, and fails if it rejects), our own
// instantiateWasm, and restoreSnapshot(original, snapshot, Module) instead of Pyodide's
// API.restoreSnapshot(snapshot).
let factory = null; // pyodide.asm.js's own globalThis._createPyodideModule
export function hookNextStart({ preRun, instantiateWasm, restoreSnapshot }) {
  factory ||= globalThis._createPyodideModule;
  if (typeof factory !== "function") throw new Error(`${FACTORY} is not loaded`);
  globalThis._createPyodideModule = (settings) => {
    globalThis._createPyodideModule = factory;
    let failed;
    const preRunFailed = new Promise((_, reject) => { failed = reject; });
    if (preRun) {
      settings.preRun.unshift((Module) => { // Emscripten runs Module.preRun from the last one
        const waited = preRun(Module);
        if (!waited) return;
        Module.addRunDependency("mnist-core preRun");
        waited.then(() => Module.removeRunDependency("mnist-core preRun")).catch(failed);
      });
    }
    if (instantiateWasm) settings.instantiateWasm = instantiateWasm;
    const created = Promise.race([factory(settings), preRunFailed]);
    if (!restoreSnapshot) return created;
    return created.then((Module) => { // loadPyodide calls it next, once this resolves
      const original = settings.API.restoreSnapshot;
      settings.API.restoreSnapshot = (snapshot) => restoreSnapshot(original, snapshot, Module);
      bootstrapWithoutCompiler(Module);
      return Module;
    });
  };
}

// In a restore, Pyodide's finalizeBootstrap (called next) gets five things by running Python source:
// `import _pyodide_core`, a new dict ("{}"), then importlib and the namespaces of __main__ and
// builtins, each imported into that dict. That would be the first use of Python's parser and
// compiler in this engine, whose wasm functions are compiled on their first call: in Chromium some
// 20 ms of the worker's, on the way to ready, for modules the restored memory holds already. So,
// for that one call, each comes from Python's C API instead: the same modules and namespaces, the
// same dict. Any other source, or a C call that fails, goes to Pyodide's own function.
function bootstrapWithoutCompiler(Module) {
  const { API } = Module;
  const { finalizeBootstrap, rawRun, runPythonInternal } = API;
  const IMPORTED = { // runPythonInternal's source: [the module, whether it gives its namespace]
    "import importlib; importlib": ["importlib", false],
    "import __main__; __main__.__dict__": ["__main__", true],
    "import builtins; builtins.__dict__": ["builtins", true],
  };
  const proxy = (borrowed) => Module.pyproxy_new(borrowed); // a PyProxy takes its own reference
  const imported = (name) => { // a new reference, or 0 with the error cleared
    const cName = Module.stringToNewUTF8(name);
    const module = Module._PyImport_ImportModule(cName);
    Module._free(cName);
    if (!module) Module._PyErr_Clear();
    return module;
  };
  let pyodideModule = null; // API._pyodide, while our stand-in answers for it
  const shortcuts = {
    rawRun(code) {
      const module = code === "import _pyodide_core" && imported("_pyodide_core");
      if (!module) return rawRun(code);
      Module._Py_DecRef(module);
      // Next comes API._pyodide._base.eval_code("{}"): the one access of _base goes to a stand-in.
      pyodideModule = API._pyodide;
      API._pyodide = new Proxy(pyodideModule, {
        get(target, name) {
          if (name !== "_base") return Reflect.get(target, name);
          API._pyodide = target;
          pyodideModule = null;
          const base = target._base;
          return { eval_code: (source, ...rest) => {
            const dict = source === "{}" && !rest.length && Module._PyDict_New();
            if (!dict) return base.eval_code(source, ...rest);
            try { return proxy(dict); } finally { Module._Py_DecRef(dict); }
          } };
        },
      });
      return [0, ""];
    },
    runPythonInternal(source) {
      const [name, namespace] = IMPORTED[source] || [];
      const module = name && imported(name);
      if (!module) return runPythonInternal(source);
      try {
        const moduleProxy = proxy(module);
        API.runPythonInternal_dict.set(name, moduleProxy); // as `import name` there would
        if (!namespace) return moduleProxy;
        moduleProxy.destroy();
        return proxy(Module._PyModule_GetDict(module)); // a borrowed reference
      } finally {
        Module._Py_DecRef(module);
      }
    },
  };
  API.finalizeBootstrap = (...args) => {
    API.finalizeBootstrap = finalizeBootstrap;
    Object.assign(API, shortcuts);
    try {
      return finalizeBootstrap(...args);
    } finally {
      Object.assign(API, { rawRun, runPythonInternal });
      if (pyodideModule) API._pyodide = pyodideModule;
    }
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
