// The worker's side of training in the page (mnist_core/browser/training.py). The run is driven
// from here one Python call per step, with a return to the event loop between steps, so that the
// worker keeps answering predictions, pause and stop while it trains. web/worker.js adds these
// handlers to its own.
//
//   "train-start"   {arch, epochs, continueSelected, limit, seed}: fetch the training set (once),
//                   set the run up, answer with its size, then train in the background
//   "train-pause", "train-resume", "train-stop"   (stop keeps the model as far as it got)
//
// Notices out: {type: "training-progress", step, steps, epoch, losses, val_accuracy?, ...} after
// each step; {type: "training-done", model, stopped} or {type: "training-error", error} at the end.

const TRAIN_IMAGES = "data/train-images-idx3-ubyte.gz";
const TRAIN_LABELS = "data/train-labels-idx1-ubyte.gz";
const STEPS_PER_CALL = 1;  // one step is 50-150 ms in the worker: pause and stop answer within one

// A return to the event loop without setTimeout's 4 ms clamp: a message to ourselves.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()();
export const nextTurn = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(null); });

export function trainingHandlers({ getApp, toJs, fetchBytes, notify }) {
  let run = null;  // {paused, stopping, wake}

  async function start({ arch, epochs, continueSelected = false, limit = null, seed = 0 }) {
    if (run !== null) throw new Error("a training run is already going");
    const app = getApp();
    if (!app.has_training_set()) {
      notify({ type: "training-loading" });
      const [images, labels] = await Promise.all([fetchBytes(TRAIN_IMAGES), fetchBytes(TRAIN_LABELS)]);
      toJs(app.load_training_set(images, labels));
    }
    const info = toJs(app.start_training(arch, epochs, continueSelected, limit, seed));
    const current = run = { paused: false, stopping: false, wake: null };
    nextTurn().then(() => loop(app, current)); // after the answer: the page knows the run before its progress
    return info;
  }

  async function loop(app, current) {
    try {
      for (;;) {
        if (current.stopping) break;
        if (current.paused) {
          await new Promise((resolve) => { current.wake = resolve; });
          continue;
        }
        const started = performance.now();
        const result = toJs(app.training_step(STEPS_PER_CALL));
        notify({ type: "training-progress", ms: performance.now() - started, ...result });
        if (result.done) break;
        await nextTurn();
      }
      notify({ type: "training-done", model: toJs(app.finish_training()), stopped: current.stopping });
    } catch (error) {
      app.abandon_training();
      notify({ type: "training-error", error: String(error && error.message ? error.message : error) });
    } finally {
      run = null;
    }
  }

  function control(change) {
    return () => {
      if (run === null) throw new Error("no training run is going");
      Object.assign(run, change);
      if (run.wake && (!run.paused || run.stopping)) {
        const wake = run.wake;
        run.wake = null;
        wake();
      }
      return { paused: run.paused, stopping: run.stopping };
    };
  }

  return {
    "train-start": start,
    "train-pause": control({ paused: true }),
    "train-resume": control({ paused: false }),
    "train-stop": control({ stopping: true }),
  };
}
