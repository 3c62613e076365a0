// Starting Python (Pyodide, NumPy, mnist_core) in the worker: restored from the build's memory
// snapshot when it is sound, or started the normal way (loadPyodide, then loadPackage) when it is
// not, saying why. startPython() reports which: {start: "snapshot" | "normal", reason}.
//
// The snapshot (pyodide/snapshot.bin, made by build_wasm.py under Node: sitebuild/snapshot.py and
// sitebuild/make_snapshot.mjs, with the functions below) is Python's memory after `import numpy,
// mnist_core.browser`, with the code of the extension modules those imports loaded. What a drawing's
// prediction does not need waits until the page is ready (restoreRest): NumPy's and mnist_core's
// other files (pyodide/snapshot-rest.bin) and the standard library. Before the snapshot is used:
//   - its key must be the one this build's files give: a sha256 over SNAPSHOT_FORMAT and the
//     sha256 of each file that went into it (runtime, stdlib, wheels, this file, the maker), the
//     served ones as build.json lists them and this file as served (snapshotKey), so a snapshot
//     left from another build is stale;
//   - its bytes must have the sha256 that snapshot.json gives (damaged otherwise);
// Any failure falls back to the normal start, with the reason.
//
// Pyodide 0.27.7's private API this relies on (checked by the tests in Chromium, Firefox, WebKit
// and Node; a new Pyodide version needs a look at each):
//   loadPyodide({_makeSnapshot: true}), pyodide.makeMemorySnapshot()   make (Node, at build time)
//   loadPyodide({_loadSnapshot: bytes})                                 restore
//   globalThis._createPyodideModule (pyodide.asm.js's factory): wrapped once to add a preRun hook
//       and our own instantiateWasm (the factory's settings are Emscripten's Module); the
//       loader's own fetch of the wasm, for the instantiateWasm ours replaces, is answered never
//   Module.FS, Module.newDSO, Module.loadWebAssemblyModule, Module.LDSO (Emscripten 3.1.58's
//       dynamic linker), Module.wasmTable (NumPy's slots start at TABLE_BASE)
//   Module.__PyRuntime, Module.__PyEM_EMSCRIPTEN_COUNT_ARGS_OFFSET, Module._PyEM_CountArgsPtr
//   pyodide.loadedPackages (emptied before the snapshot: its JS object must be as a fresh one)
//   the loader's own fetch of the standard library (its stdLibURL), answered with no bytes in a
//       restore: the zip is written where the loader wrote it (/lib/pythonXY.zip) after ready
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
export const SNAPSHOT_FILE = "pyodide/snapshot.bin";
export const SNAPSHOT_REST = "pyodide/snapshot-rest.bin";
export const SNAPSHOT_MANIFEST = "pyodide/snapshot.json";
const BUILD_MANIFEST = "build.json";
const HOOK = "python-start.js"; // this file, as the site serves it: one of the snapshot's inputs
const WASM = "pyodide/pyodide.asm.wasm";
const STDLIB = "pyodide/python_stdlib.zip";
const FACTORY = "pyodide/pyodide.asm.js";

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
export const sha256 = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));

// The key of a snapshot made from `inputs` ({name: sha256}): sitebuild/snapshot.py computes the same text.
export async function snapshotKey(inputs) {
  const lines = Object.keys(inputs).sort().map((name) => `${name} ${inputs[name]}\n`);
  return sha256(new TextEncoder().encode(`mnist-core snapshot ${SNAPSHOT_FORMAT}\n${lines.join("")}`));
}

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
function writeMemory(heap, memory) {
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

// ---------------------------------------------------------------- in the worker

class Refusal extends Error {} // a reason not to use the snapshot (the normal start follows)

// Whether this build's snapshot may be used: its manifest, once its key is the one this build's files
// give (build.json's sha256 of the served inputs, this file's as served); a Refusal says why not.
async function checkedManifest(get) {
  let manifest, build, hook;
  try {
    [manifest, build, hook] = await Promise.all([
      get(SNAPSHOT_MANIFEST, { cache: "no-cache" }).then((r) => r.json()),
      get(BUILD_MANIFEST, { cache: "no-cache" }).then((r) => r.json()),
      get(HOOK).then((r) => r.arrayBuffer()),
    ]);
  } catch (error) {
    throw new Refusal(`no snapshot in this build (${error.message})`);
  }
  if (manifest.format !== SNAPSHOT_FORMAT) {
    throw new Refusal(`stale: snapshot format ${manifest.format}, this page reads ${SNAPSHOT_FORMAT}`);
  }
  const inputs = {}; // the maker's own files (not served) as the snapshot lists them
  for (const [name, listed] of Object.entries(manifest.inputs)) {
    inputs[name] = name === HOOK ? await sha256(hook) : name in build.files ? build.files[name].sha256 : listed;
  }
  const differing = Object.keys(inputs).filter((name) => inputs[name] !== manifest.inputs[name]);
  const key = await snapshotKey(inputs);
  if (differing.length || key !== manifest.key) {
    throw new Refusal(`stale: made from other files than this build's (${differing.join(", ") || "its key"})`);
  }
  return manifest;
}

// The snapshot's bytes, checked against the manifest's sha256 and key, decoded, with its libraries
// compiled: {libraries: [[path, bytes, module]], memory}. The sha256 is worked out while the bytes are
// decoded and the libraries compile: none of it is used unless the check passes.
async function checkedSnapshot(download, manifest, mark) {
  let bytes;
  try {
    bytes = new Uint8Array(await download);
  } catch (error) {
    throw new Refusal(`no snapshot in this build (${error.message})`);
  }
  mark("snapshotFetched");
  const digest = sha256(bytes);
  let snapshot = null, decodeError = null, libraries = null;
  try {
    snapshot = decodeSnapshot(bytes);
    libraries = Promise.all(snapshot.libraries.map(async ([path, code]) => [path, code, await WebAssembly.compile(code)]));
    libraries.catch(() => {});
  } catch (error) {
    decodeError = error;
  }
  const found = await digest;
  if (found !== manifest.sha256) throw new Refusal(`damaged: ${SNAPSHOT_FILE} has sha256 ${found}, expected ${manifest.sha256}`);
  if (decodeError) throw new Refusal(`damaged: ${SNAPSHOT_FILE}: ${decodeError.message}`);
  if (snapshot.header.key !== manifest.key) {
    throw new Refusal(`stale: ${SNAPSHOT_FILE} has key ${snapshot.header.key}, expected ${manifest.key}`);
  }
  if (snapshot.memory.bytes !== manifest.memory) {
    throw new Refusal(`damaged: ${SNAPSHOT_FILE} has a memory of ${snapshot.memory.bytes} bytes, expected ${manifest.memory}`);
  }
  const compiled = await libraries;
  mark("snapshotChecked");
  return { libraries: compiled, memory: snapshot.memory };
}

// After ready, in a restore: what the snapshot left for later, written where Pyodide's start would
// have written it. The standard library's zip, which must be the very bytes the snapshot was made
// with (zipimport keeps its directory from then): an Error otherwise. NumPy's and mnist_core's files
// (snapshot-rest.bin), checked like the snapshot; if they are not sound, the packages are installed
// from their wheels instead, as the normal start does, and the console says why.
async function restoreRest(pyodide, get, manifest, packages) {
  const bytesOf = (path) => get(path).then((r) => r.arrayBuffer()).then((bytes) => new Uint8Array(bytes));
  const rest = bytesOf(SNAPSHOT_REST);
  rest.catch(() => {});
  const stdlib = await bytesOf(STDLIB);
  const stdlibFound = await sha256(stdlib);
  if (stdlibFound !== manifest.inputs[STDLIB]) {
    throw new Error(`${STDLIB} has sha256 ${stdlibFound}, the snapshot was made with ${manifest.inputs[STDLIB]}`);
  }
  installFiles(pyodide._module, [[stdlibPath(pyodide), stdlib]]);
  try {
    installFiles(pyodide._module, await checkedRest(rest, manifest));
  } catch (error) {
    console.warn(`the snapshot's rest is not used (${messageOf(error)}): installing NumPy and mnist_core from their wheels`);
    for (const name of packages) delete pyodide.loadedPackages[name];
    await pyodide.loadPackage(packages);
  }
}

// snapshot-rest.bin's files ([[path, bytes]]), once its sha256 and key are the manifest's.
async function checkedRest(download, manifest) {
  let bytes;
  try {
    bytes = await download;
  } catch (error) {
    throw new Refusal(`${SNAPSHOT_REST} is missing (${error.message})`);
  }
  const found = await sha256(bytes);
  if (found !== manifest.rest.sha256) throw new Refusal(`damaged: ${SNAPSHOT_REST} has sha256 ${found}, expected ${manifest.rest.sha256}`);
  const { header, files } = decodeRest(bytes);
  if (header.key !== manifest.key) throw new Refusal(`stale: ${SNAPSHOT_REST} has key ${header.key}, expected ${manifest.key}`);
  return files;
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

// The runtime's wasm, compiled while everything else downloads (and, where the engine caches
// compiled code, from that cache on a repeat visit). hook(ready) gives an instantiateWasm for one
// start that takes it once `ready` resolves too, and a promise that rejects if either fails
// (Pyodide's own would only log it, and wait for ever).
function compiledRuntime(get, mark, early = null) {
  const bytesThenCompile = () => get(WASM).then((r) => r.arrayBuffer()).then((b) => WebAssembly.compile(b));
  const compile = () => (typeof WebAssembly.compileStreaming === "function"
    ? WebAssembly.compileStreaming(get(WASM)).catch(bytesThenCompile) // e.g. a server's wrong MIME type
    : bytesThenCompile());
  const compiled = early ? early.catch(compile) : compile();
  compiled.then(() => mark("wasmCompiled"), () => {});
  return function hook(ready = null) {
    let failed;
    const failure = new Promise((_, reject) => { failed = reject; });
    failure.catch(() => {});
    const instantiateWasm = (imports, receive) => {
      Promise.all([compiled, ready])
        .then(([module]) => WebAssembly.instantiate(module, imports).then((instance) => {
          mark("wasmInstantiated");
          receive(instance, module);
        }))
        .catch(failed);
      return {};
    };
    return { instantiateWasm, failure };
  };
}

// Pyodide's loader starts fetching files itself as it reads its options: the wasm, for an
// instantiateWasm that ours replaces (engines that do not merge two requests for one URL, WebKit,
// fetched it twice), and, in a restore, the standard library, which waits until after ready
// (restoreRest). While loadPyodide starts, the first fetch of each of `answers`' URLs gets its answer
// instead (a start that is given up never ends: the next one fetches them itself).
function withLoaderFetches(answers, run) {
  const fetch = globalThis.fetch;
  const pending = new Map(Object.entries(answers));
  const restore = () => { if (globalThis.fetch === instead) globalThis.fetch = fetch; };
  const instead = (url, init) => {
    const answer = pending.get(String(url));
    if (!answer) return fetch(url, init);
    pending.delete(String(url));
    if (!pending.size) restore();
    return answer();
  };
  globalThis.fetch = instead;
  const started = run();
  started.then(restore, restore);
  return started;
}

const messageOf = (error) => (error && error.message ? error.message : String(error));
const never = new Promise(() => {});

// Start Python: {pyodide, start: "snapshot" | "normal", reason (why not the snapshot; "" when it was used),
// rest}. rest(), to be called once the page is ready, installs what a restore left for later
// (restoreRest; a promise), and has nothing to do after a normal start.
// Everything starts at once: the wasm compiles, pyodide.asm.js loads, the snapshot downloads (and is
// checked, and its libraries compiled) while Pyodide's start-up runs up to instantiating the wasm.
//   site      the site's root URL: the files above are relative to it
//   options   loadPyodide's {indexURL, lockFileURL} (URLs in a browser, paths under Node)
//   fetch     how files are fetched (the global one; tests under Node read files)
//   mark      mark(name) notes when each step ends (snapshotManifest, wasmCompiled, snapshotFetched,
//             snapshotChecked, wasmInstantiated, librariesLoaded, runtimeReady, memoryWritten, memoryRestored,
//             pythonStarted),
//             for the page's phase table
//   early     {snapshot: a promise of the snapshot's bytes (ArrayBuffer), wasm: of the compiled runtime}
//             that someone already asked for (the page, as it was parsed); either rejecting means
//             fetch it here. The snapshot's bytes are checked the same either way.
export async function startPython({ loadPyodide, site, options, packages, fetch = globalThis.fetch, mark = () => {},
                                    early = {} }) {
  const get = async (path, init) => {
    const response = await fetch(new URL(path, site).href, init);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response;
  };
  // Asked for in this order: the small files the snapshot's checks need, the snapshot, the runtime.
  const checked = checkedManifest(get);
  checked.catch(() => {});
  const aborter = new AbortController();
  const fetchSnapshot = () => get(SNAPSHOT_FILE, { signal: aborter.signal }).then((r) => r.arrayBuffer());
  const download = early.snapshot ? early.snapshot.catch(fetchSnapshot) : fetchSnapshot();
  download.catch(() => {});
  const runtime = compiledRuntime(get, mark, early.wasm);
  const factory = import(new URL(FACTORY, site).href);
  const wasmURL = new URL(WASM, site).href;
  const start = (settings, answers = {}) => withLoaderFetches({ [wasmURL]: () => never, ...answers },
                                                              () => loadPyodide(settings));
  let reason = "";
  try {
    const manifest = await checked;
    mark("snapshotManifest");
    let parts = null;
    const snapshot = checkedSnapshot(download, manifest, mark).then((checked) => { parts = checked; });
    const { instantiateWasm, failure } = runtime(snapshot);
    await factory;
    hookNextStart({
      instantiateWasm,
      preRun: (Module) => { // after instantiateWasm, which waited for the snapshot
        installFiles(Module, parts.libraries.map(([path, bytes]) => [path, bytes]));
        preloadLibraries(Module, parts.libraries.map(([path, , module]) => [path, module]));
        mark("librariesLoaded");
      },
      restoreSnapshot: (original, _, Module) => {
        mark("runtimeReady");
        const header = writeMemory(Module.HEAPU8, parts.memory);
        mark("memoryWritten");
        return original(header);
      },
    });
    const stdlibURL = new URL(STDLIB, site).href;
    // loadPyodide sizes the wasm memory by the length of _loadSnapshot (Pyodide's snapshot: its header and
    // the memory), and reads it only in restoreSnapshot, which ours replaces: untouched zeros until then.
    const started = start({ ...options, stdLibURL: stdlibURL, _loadSnapshot: new Uint8Array(manifest.memory) },
                          { [stdlibURL]: async () => new Response(new Uint8Array(0)) });
    const pyodide = await Promise.race([started, failure, snapshot.then(() => never)]);
    mark("memoryRestored");
    restored(pyodide, packages);
    mark("pythonStarted");
    return { pyodide, start: "snapshot", reason, rest: () => restoreRest(pyodide, get, manifest, packages) };
  } catch (error) {
    reason = error instanceof Refusal ? error.message : `restoring it failed: ${messageOf(error)}`;
    console.warn(`the snapshot is not used (${reason}): starting Python the normal way`);
    aborter.abort();
  }
  await factory;
  const { instantiateWasm, failure } = runtime();
  hookNextStart({ instantiateWasm });
  const pyodide = await Promise.race([start({ ...options, packages }), failure]);
  mark("pythonStarted");
  return { pyodide, start: "normal", reason, rest: async () => {} };
}
