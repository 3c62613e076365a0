// Starting Python (Pyodide, NumPy, mnist_core) in the worker: restored from the build's memory
// snapshot (python-snapshot.js) when it is sound, or started the normal way (loadPyodide, then
// loadPackage) when it is not, saying why. startPython() reports which: {start: "snapshot" |
// "normal", reason}.
//
// What a drawing's prediction does not need waits until the page is ready (restoreRest): NumPy's
// and mnist_core's other files (pyodide/snapshot-rest.bin) and the standard library. Before the
// snapshot is used:
//   - its key must be the one this build's files give: a sha256 over SNAPSHOT_FORMAT and the
//     sha256 of each file that went into it (runtime, stdlib, wheels, this file and
//     python-snapshot.js, the maker), the served ones as build.json lists them and the page's own
//     as served (snapshotKey), so a snapshot left from another build is stale;
//   - its bytes must have the sha256 that snapshot.json gives (damaged otherwise);
// Any failure falls back to the normal start, with the reason.
import {
  FACTORY, SNAPSHOT_FORMAT, decodeRest, decodeSnapshot, hookNextStart, installFiles, preloadLibraries, restored,
  stdlibPath, writeMemory,
} from "./python-snapshot.js";

export const SNAPSHOT_FILE = "pyodide/snapshot.bin";
export const SNAPSHOT_REST = "pyodide/snapshot-rest.bin";
export const SNAPSHOT_MANIFEST = "pyodide/snapshot.json";
const BUILD_MANIFEST = "build.json";
// The page's half of the snapshot's hook, as the site serves it: among the snapshot's inputs.
const HOOKS = ["python-start.js", "python-snapshot.js"];
const WASM = "pyodide/pyodide.asm.wasm";
const STDLIB = "pyodide/python_stdlib.zip";

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
export const sha256 = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));

// The key of a snapshot made from `inputs` ({name: sha256}): sitebuild/snapshot.py computes the same text.
export async function snapshotKey(inputs) {
  const lines = Object.keys(inputs).sort().map((name) => `${name} ${inputs[name]}\n`);
  return sha256(new TextEncoder().encode(`mnist-core snapshot ${SNAPSHOT_FORMAT}\n${lines.join("")}`));
}

class Refusal extends Error {} // a reason not to use the snapshot (the normal start follows)

// Whether this build's snapshot may be used: its manifest, once its key is the one this build's files
// give (build.json's sha256 of the served inputs, the HOOKS' as served); a Refusal says why not.
async function checkedManifest(get) {
  let manifest, build, hooks;
  try {
    [manifest, build, hooks] = await Promise.all([
      get(SNAPSHOT_MANIFEST, { cache: "no-cache" }).then((r) => r.json()),
      get(BUILD_MANIFEST, { cache: "no-cache" }).then((r) => r.json()),
      Promise.all(HOOKS.map(async (name) => [name, await sha256(await (await get(name)).arrayBuffer())])),
    ]);
  } catch (error) {
    throw new Refusal(`no snapshot in this build (${error.message})`);
  }
  if (manifest.format !== SNAPSHOT_FORMAT) {
    throw new Refusal(`stale: snapshot format ${manifest.format}, this page reads ${SNAPSHOT_FORMAT}`);
  }
  const page = Object.fromEntries(hooks);
  const inputs = {}; // the maker's own files (not served) as the snapshot lists them
  for (const [name, listed] of Object.entries(manifest.inputs)) {
    inputs[name] = name in page ? page[name] : name in build.files ? build.files[name].sha256 : listed;
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


// The runtime's wasm, compiled while everything else downloads (as it arrives, where the engine
// can). hook() gives an instantiateWasm for one start, which instantiates it as soon as it has
// compiled, and a promise that rejects if that fails (Pyodide's own would only log it, and wait for
// ever).
function compiledRuntime(get, mark, early = null) {
  const bytesThenCompile = () => get(WASM).then((r) => r.arrayBuffer()).then((b) => WebAssembly.compile(b));
  const compile = () => (typeof WebAssembly.compileStreaming === "function"
    ? WebAssembly.compileStreaming(get(WASM)).catch(bytesThenCompile) // e.g. a server's wrong MIME type
    : bytesThenCompile());
  const compiled = early ? early.catch(compile) : compile();
  compiled.then(() => mark("wasmCompiled"), () => {});
  return function hook() {
    let failed;
    const failure = new Promise((_, reject) => { failed = reject; });
    failure.catch(() => {});
    const instantiateWasm = (imports, receive) => {
      mark("wasmAsked");
      compiled
        .then((module) => WebAssembly.instantiate(module, imports).then((instance) => {
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
// checked, and its libraries compiled) while Pyodide's start-up instantiates and links the runtime as
// soon as its wasm has compiled; the start then waits for the snapshot in its last preRun hook.
//   site      the site's root URL: the files above are relative to it
//   options   loadPyodide's {indexURL, lockFileURL} (URLs in a browser, paths under Node)
//   fetch     how files are fetched (the global one; tests under Node read files)
//   mark      mark(name) notes when each step ends (snapshotManifest, runtimeScriptLoaded, wasmCompiled,
//             wasmAsked (Pyodide's start, up to instantiating the wasm), snapshotFetched, snapshotChecked,
//             wasmInstantiated, librariesLoaded, runtimeReady, memoryWritten, memoryRestored, pythonStarted),
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
  factory.then(() => mark("runtimeScriptLoaded"), () => {});
  const wasmURL = new URL(WASM, site).href;
  const start = (settings, answers = {}) => withLoaderFetches({ [wasmURL]: () => never, ...answers },
                                                              () => loadPyodide(settings));
  let reason = "";
  try {
    const manifest = await checked;
    mark("snapshotManifest");
    let parts = null;
    const snapshot = checkedSnapshot(download, manifest, mark).then((checked) => { parts = checked; });
    const { instantiateWasm, failure } = runtime();
    await factory;
    hookNextStart({
      instantiateWasm,
      // The runtime starts as soon as its wasm has compiled (on a repeat visit the page asks for the
      // snapshot only then), so that Emscripten links it while the snapshot arrives; it waits here.
      preRun: (Module) => snapshot.then(() => {
        installFiles(Module, parts.libraries); // [path, bytes, module]: the first two are a file
        preloadLibraries(Module, parts.libraries.map(([path, , module]) => [path, module]));
        mark("librariesLoaded");
      }),
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