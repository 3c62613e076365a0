// Run by offline.js in a worker of its own once the service worker has cached a build, so that the
// next visit's worker finds the runtime's JavaScript (pyodide.asm.js, python-snapshot.js's FACTORY)
// compiled. Chromium keeps a module's compiled code with the service worker's copy once the module
// has run from there (left alone, only after the repeat visit and the one after it have each compiled
// it), as the code is when the worker's modules have run. Besides the script's top level, that should
// hold the runtime's factory: one function of about a megabyte, which Pyodide's loader calls first
// and which the engine compiles only then (45-70 ms of the start). It is called here with nothing to
// instantiate (an instantiateWasm that never answers), so that it stops before starting anything.
// docs/page-start.md has the measurements.
import "./pyodide/pyodide.asm.js";

try {
  const settings = { API: {}, preRun: [], postRun: [], instantiateWasm: () => ({}) };
  Promise.resolve(globalThis._createPyodideModule(settings)).catch(() => {}); // (it never resolves)
} catch {
  // A factory that wanted more of its settings still compiled before it threw.
}
