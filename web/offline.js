// Offline after the first visit: once the page is ready (so that filling the cache never slows the
// first start), register the service worker (sw.js), which caches this build's files. #app's
// data-offline says "ready" once a service worker controls the page with the build cached, or
// "unavailable" where there is none (a browser without service workers, or a page served over
// plain http from another host, where browsers allow none).
//
// Once a build is cached, its runtime's JavaScript is run once in a worker of its own
// (warmCodeCache), so that the next visit's start finds it compiled.

import { $, root } from "./dom.js";

export async function keepOffline() {
  if (!("serviceWorker" in navigator)) {
    root.dataset.offline = "unavailable";
    return;
  }
  const workers = navigator.serviceWorker;
  try {
    const controlled = workers.controller ? Promise.resolve()
      : new Promise((resolve) => workers.addEventListener("controllerchange", resolve, { once: true }));
    const registration = await workers.register("sw.js");
    const installing = registration.installing;
    const failed = new Promise((resolve, reject) => installing && installing.addEventListener("statechange", () => {
      if (installing.state === "redundant") reject(new Error("sw.js failed to install (see its console)"));
    }));
    // An active worker (its install cached the whole build) that controls the page.
    await Promise.race([Promise.all([workers.ready, controlled]), failed]);
    root.dataset.offline = "ready";
    $("offline").hidden = false;
    if (installing) warmCodeCache();
  } catch (error) {
    console.warn("the page will not work offline:", error);
    root.dataset.offline = "unavailable";
  }
}

// The runtime's JavaScript (pyodide.asm.js, 1.3 MB) takes the worker 100-200 ms to compile, on the
// start's critical path, until the engine has kept its compiled code; warm-runtime.js, run once
// here, makes the next visit one that finds it kept (it says how). The engine writes the code
// after the script has run: the worker is given two seconds for it (were it not written, the next
// visit would compile the script as it does without this). #app's data-code-cache says "warming",
// then "warmed".
const CODE_CACHE_WRITE_MS = 2000;

async function warmCodeCache() {
  root.dataset.codeCache = "warming";
  try {
    const worker = new Worker("warm-runtime.js", { type: "module" });
    await new Promise((resolve) => setTimeout(resolve, CODE_CACHE_WRITE_MS));
    worker.terminate();
  } catch (error) {
    console.warn("the runtime's JavaScript was not run ahead of the next visit:", error);
  }
  root.dataset.codeCache = "warmed";
}
