// The worker's side of learning from corrections (mnist_core/browser/app.py has the protocol): it
// fetches the MNIST training images replayed while fine-tuning, and after a correction makes the
// consolidation steps in the background, one per turn of the event loop, so that predictions are
// answered in between. web/worker.js adds these handlers to its own.

import { nextTurn } from "./worker-training.js";

const REPLAY_IMAGES = "data/replay-images-idx3-ubyte";
const REPLAY_LABELS = "data/replay-labels-idx1-ubyte";

export function learningHandlers({ callApp, fetchBytes, notify }) {
  let replay = null; // the promise of the replay set being loaded
  let consolidating = false;

  async function consolidate() {
    if (consolidating) return; // the loop going on takes the new correction's steps too
    consolidating = true;
    try {
      while (callApp("consolidate", { steps: 1 }).left > 0) await nextTurn();
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
        .then(([images, labels]) => callApp("load_replay_set", { images_bytes: images, labels_bytes: labels }));
      replay.catch(() => { replay = null; }); // a failed download is tried again on the next correction
    }
    return replay;
  }

  async function correct(args) {
    await loadReplay();
    const started = performance.now();
    const result = callApp("correct", args);
    result.worker_ms = performance.now() - started; // not "ms": the page's timing line is for predictions
    nextTurn().then(consolidate); // after the answer has gone out
    return result;
  }

  return {
    load_replay_set: loadReplay,
    correct,
  };
}
