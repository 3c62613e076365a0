// What the page keeps in this browser (IndexedDB) so that a reload loses nothing: the corrections
// (the 28x28 image the model saw and the digit it was), the models fine-tuned on them and the models
// trained here, as GGUF bytes. Nothing leaves the browser; forgetCorrections and forgetAll delete it.
//
//   corrections   {image28: Uint8Array(784), label, time}, in the order they were made
//   models        {name, kind: "learned" | "trained", arch, bytes: Uint8Array (GGUF), time}, by name

const DB_NAME = "mnist-core";
const DB_VERSION = 1;

let opening = null;

function database() {
  if (opening === null) {
    opening = new Promise((resolve, reject) => {
      if (!self.indexedDB) throw new Error("this browser keeps nothing (no IndexedDB)");
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains("corrections")) db.createObjectStore("corrections", { autoIncrement: true });
        if (!db.objectStoreNames.contains("models")) db.createObjectStore("models", { keyPath: "name" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    opening.catch(() => { opening = null; });
  }
  return opening;
}

// Run `work(stores)` in one transaction over `names`; resolves with what work returned, once committed.
async function transaction(names, mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(names, mode);
    const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
    let result;
    Promise.resolve(work(stores)).then((value) => { result = value; }, reject);
    tx.oncomplete = () => resolve(result);
    tx.onerror = tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction failed"));
  });
}

const requestValue = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});

export function keepCorrection(image28, label) {
  const correction = { image28: new Uint8Array(image28), label, time: Date.now() };
  return transaction(["corrections"], "readwrite", ({ corrections }) => { corrections.add(correction); });
}

export function keepModel({ name, kind, arch, bytes }) {
  const model = { name, kind, arch, bytes: new Uint8Array(bytes), time: Date.now() };
  return transaction(["models"], "readwrite", ({ models }) => { models.put(model); });
}

export function dropModel(name) {
  return transaction(["models"], "readwrite", ({ models }) => { models.delete(name); });
}

// Everything kept: {images: Uint8Array(K * 784), labels: Uint8Array(K), learned: [{name, bytes}],
// trained: [{name, arch, bytes}]}, models oldest first.
export async function keptState() {
  const [corrections, models] = await transaction(["corrections", "models"], "readonly", ({ corrections, models }) =>
    Promise.all([requestValue(corrections.getAll()), requestValue(models.getAll())]));
  const images = new Uint8Array(corrections.length * 784);
  corrections.forEach(({ image28 }, i) => images.set(image28, i * 784));
  const labels = Uint8Array.from(corrections, ({ label }) => label);
  models.sort((a, b) => a.time - b.time);
  const kind = (wanted) => models.filter((model) => model.kind === wanted)
    .map(({ name, arch, bytes }) => ({ name, arch, bytes }));
  return { images, labels, learned: kind("learned"), trained: kind("trained") };
}

// The corrections and the models fine-tuned on them; models trained here stay.
export function forgetCorrections() {
  return transaction(["corrections", "models"], "readwrite", async ({ corrections, models }) => {
    corrections.clear();
    for (const model of await requestValue(models.getAll())) {
      if (model.kind === "learned") models.delete(model.name);
    }
  });
}

export function forgetAll() {
  return transaction(["corrections", "models"], "readwrite", ({ corrections, models }) => {
    corrections.clear();
    models.clear();
  });
}
