// Run a Python script inside Pyodide under Node, from the same files the web page serves.
//
//   node tests/pyodide_run.mjs SITE_DIR SCRIPT.py [OUT_DIR]
//
// Loads SITE_DIR/pyodide/pyodide.mjs with SITE_DIR/pyodide/pyodide-lock.json, loads numpy and
// mnist_core from that lock, mounts SITE_DIR at /site and OUT_DIR (if given) at /out, then runs
// the script; its last expression's value (if any) is printed as JSON on the last line.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [siteDir, scriptPath, outDir] = process.argv.slice(2).map((p) => p && resolve(p));
if (!siteDir || !scriptPath) {
  console.error("usage: node pyodide_run.mjs SITE_DIR SCRIPT.py [OUT_DIR]");
  process.exit(2);
}
const indexURL = `${siteDir}/pyodide/`;
const { loadPyodide } = await import(pathToFileURL(`${indexURL}pyodide.mjs`).href);
const pyodide = await loadPyodide({ indexURL, lockFileURL: `${indexURL}pyodide-lock.json` });
await pyodide.loadPackage(["numpy", "mnist_core"], { messageCallback: () => {} });

const mounts = [[siteDir, "/site"], [outDir, "/out"]];
for (const [root, mountPoint] of mounts) {
  if (!root) continue;
  pyodide.FS.mkdirTree(mountPoint);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, mountPoint);
}
let result;
try {
  result = await pyodide.runPythonAsync(readFileSync(scriptPath, "utf8"), { filename: scriptPath });
} catch (error) {
  // Only the Python traceback: Node's default report would print a megabyte of minified source.
  console.error(error.message);
  process.exit(1);
}
const value = result && typeof result.toJs === "function" ? result.toJs({ dict_converter: Object.fromEntries }) : result;
console.log(JSON.stringify(value ?? null));
