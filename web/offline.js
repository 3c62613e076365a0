// Offline after the first visit: once the page is ready (so that filling the cache never slows the
// first start), register the service worker (sw.js), which caches this build's files. #app's
// data-offline says "ready" once a service worker controls the page with the build cached, or
// "unavailable" where there is none (a browser without service workers, or a page served over
// plain http from another host, where browsers allow none).

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
  } catch (error) {
    console.warn("the page will not work offline:", error);
    root.dataset.offline = "unavailable";
  }
}
