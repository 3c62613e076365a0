// The worker's side of learning from corrections and of keeping models (mnist_core/browser/learning.py,
// saving.py): it fetches the MNIST training images replayed while fine-tuning and passes the
// page's requests to Python. web/worker.js adds these handlers to its own.
//
//   "load-replay"          fetch the replay images once (the page asks as soon as it is ready)
//   "correct"              {image28, label}: keep the correction, fine-tune the selected model on it;
//                          then consolidate in the background, one step per turn of the event loop,
//                          and notify {type: "learning-settled"} when no step is left
//   "forget-corrections"   drop them all; each fine-tuned model gets its weights from before
//   "restore"              {images, labels, learned: [{name, bytes}], trained: [{name, bytes}]}: what
//                          the page kept in IndexedDB, back after a reload
//   "model-file"           {name?}: the selected (or named) model as GGUF bytes
//   "remove-model"         {name}: take a model made in the page out of the list

import { nextTurn } from "./worker-training.js";

const REPLAY_IMAGES = "data/replay-images-idx3-ubyte";
const REPLAY_LABELS = "data/replay-labels-idx1-ubyte";
const SHIPPED = new Set(["mnist-fc", "mnist-cnn"]);

export function learningHandlers({ getApp, toJs, fetchBytes, modelPath, notify }) {
  let replay = null; // the promise of the replay set being loaded
  let consolidating = false;

  async function consolidate() {
    if (consolidating) return; // the loop going on takes the new correction's steps too
    consolidating = true;
    try {
      while (toJs(getApp().consolidate(1)).left > 0) await nextTurn();
      notify({ type: "learning-settled" });
    } catch (error) {
      notify({ type: "learning-error", error: String(error && error.message ? error.message : error) });
    } finally {
      consolidating = false;
    }
  }

  function loadReplay() {
    if (replay === null) {
      replay = Promise.all([fetchBytes(REPLAY_IMAGES), fetchBytes(REPLAY_LABELS)])
        .then(([images, labels]) => toJs(getApp().load_replay_set(images, labels)));
      replay.catch(() => { replay = null; }); // a failed download is tried again on the next correction
    }
    return replay;
  }

  async function correct({ image28, label }) {
    await loadReplay();
    const started = performance.now();
    const result = toJs(getApp().correct(image28, label));
    result.worker_ms = performance.now() - started; // not "ms": the page's timing line is for predictions
    nextTurn().then(consolidate); // after the answer has gone out
    return result;
  }

  // Learned models replace the shipped model of their name (which forgetting gives back); a
  // model trained in the page joins the list. Returns what joined, for the page's #model list.
  async function restore({ images, labels, learned = [], trained = [] }) {
    const app = getApp();
    const count = toJs(app.restore_corrections(images, labels)).count;
    const restored = [];
    for (const { name, bytes } of learned) {
      const original = SHIPPED.has(name) && !app.has_model(name) ? await fetchBytes(modelPath(name)) : null;
      restored.push({ ...toJs(app.restore_learned(name, bytes, original)), learned: true });
    }
    for (const { name, bytes } of trained) restored.push(toJs(app.restore_model(name, bytes)));
    return { count, restored };
  }

  return {
    "load-replay": loadReplay,
    correct,
    "forget-corrections": () => toJs(getApp().forget_corrections()),
    restore,
    "model-file": ({ name = null }) => toJs(getApp().model_file(name)),
    "remove-model": ({ name }) => toJs(getApp().remove_model(name)),
  };
}
