// The service worker: keeps the whole site (the page, Pyodide, the wheels, the models, the test set)
// in a cache named after the build, so that the page reloads and predicts with the network gone.
//
// sw-build.js, written by build_wasm.py (sitebuild/offline.py), names the build and lists its files
// with their sha256. A new build changes it, so the browser installs this worker again: the new
// worker fills a cache of its own, checking every file's sha256 (a file from another build fails
// the install, and the previous build stays in use), then deletes the caches of older builds.
// Files of two builds are never mixed. Requests for the build's files are answered from its cache;
// anything else goes to the network.
importScripts("sw-build.js"); // self.SITE_BUILD = {id, files: {path: sha256}}

const PREFIX = "mnist-core-";
const CACHE = PREFIX + self.SITE_BUILD.id;
const SCOPE = new URL("./", self.location.href);

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

// Fetch one file of the build (revalidated with the server, not taken from a stale HTTP cache) and
// check it is the build's before it goes in the cache.
async function cacheFile(cache, path, sha256) {
  const url = new URL(path, SCOPE).href;
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  const found = hex(await crypto.subtle.digest("SHA-256", await response.clone().arrayBuffer()));
  if (found !== sha256) throw new Error(`${path}: sha256 ${found}, build ${self.SITE_BUILD.id} has ${sha256}`);
  await cache.put(url, response);
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const existed = await caches.has(CACHE); // (the same build again, under a changed sw.js)
    const cache = await caches.open(CACHE);
    try {
      await Promise.all(Object.entries(self.SITE_BUILD.files).map(([path, sha256]) => cacheFile(cache, path, sha256)));
    } catch (error) {
      if (!existed) await caches.delete(CACHE); // a refused build leaves none of its files behind
      throw error;
    }
    await self.skipWaiting(); // a reload then gets the new build, not the one the open page started with
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const stale = (await caches.keys()).filter((name) => name.startsWith(PREFIX) && name !== CACHE);
    await Promise.all(stale.map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

// The site's root URL is index.html.
const cacheKey = (request) => new URL(request.url).href === SCOPE.href ? new URL("index.html", SCOPE).href : request;

async function answer(request) {
  // caches.match with cacheName, not caches.open: an old worker still answering the page while a new
  // build activates must not re-create its own cache after the new worker deleted it.
  const cached = await caches.match(cacheKey(request), { cacheName: CACHE, ignoreMethod: true });
  if (!cached) return fetch(request);
  // HEAD (the page's start-up checks ask for sizes): the cached answer's headers, no body.
  if (request.method === "HEAD") {
    return new Response(null, { status: cached.status, statusText: cached.statusText, headers: cached.headers });
  }
  return cached;
}

self.addEventListener("fetch", (event) => {
  const { method, url } = event.request;
  if ((method === "GET" || method === "HEAD") && url.startsWith(SCOPE.href)) event.respondWith(answer(event.request));
});
