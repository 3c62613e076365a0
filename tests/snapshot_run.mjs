// Run a Python script inside Pyodide restored from the site's memory snapshot, under Node, as the
// page's worker starts it (web/python-start.js's startPython, with files read from SITE_DIR):
//
//   node tests/snapshot_run.mjs [--before-rest] SITE_DIR SCRIPT.py [OUT_DIR]
//
// As tests/pyodide_run.mjs otherwise: SITE_DIR at /site, OUT_DIR at /out, the script's last
// expression printed as JSON on the last line. If the snapshot is not used, it says why and exits 3.
// The script runs once the snapshot's rest is installed, as the worker's requests after ready do;
// --before-rest runs it before, as the page's first requests are (the standard library's zip
// empty, as the page's loader leaves it until then).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const beforeRest = process.argv.includes("--before-rest");
const [siteDir, scriptPath, outDir] = process.argv.slice(2).filter((a) => a !== "--before-rest").map((p) => p && resolve(p));
if (!siteDir || !scriptPath) {
  console.error("usage: node snapshot_run.mjs SITE_DIR SCRIPT.py [OUT_DIR]");
  process.exit(2);
}
const site = pathToFileURL(`${siteDir}/`).href;
const indexURL = `${siteDir}/pyodide/`;
const { loadPyodide } = await import(pathToFileURL(`${indexURL}pyodide.mjs`).href);
const { startPython } = await import(pathToFileURL(`${siteDir}/python-start.js`).href);
const { stdlibPath } = await import(pathToFileURL(`${siteDir}/python-snapshot.js`).href);

// The site's files as a server would send them (wasm with its MIME type, for compileStreaming).
async function fetchFile(url) {
  try {
    const path = fileURLToPath(url);
    const headers = path.endsWith(".wasm") ? { "content-type": "application/wasm" } : {};
    return new Response(await readFile(path), { headers });
  } catch {
    return new Response(null, { status: 404 });
  }
}

const options = { indexURL, lockFileURL: `${indexURL}pyodide-lock.json` };
const { pyodide, start, reason, rest } = await startPython({ loadPyodide, site, options,
                                                             packages: ["numpy", "mnist_core"], fetch: fetchFile });
if (start !== "snapshot") {
  console.error(`the snapshot was not used: ${reason}`);
  process.exit(3);
}
if (beforeRest) pyodide.FS.writeFile(stdlibPath(pyodide), new Uint8Array(0));
else await rest();
for (const [root, mountPoint] of [[siteDir, "/site"], [outDir, "/out"]]) {
  if (!root) continue;
  pyodide.FS.mkdirTree(mountPoint);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, mountPoint);
}
let result;
try {
  result = await pyodide.runPythonAsync(await readFile(scriptPath, "utf8"), { filename: scriptPath });
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
const value = result && typeof result.toJs === "function" ? result.toJs({ dict_converter: Object.fromEntries }) : result;
console.log(JSON.stringify(value ?? null));
