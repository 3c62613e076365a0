// The worker's side of training in the page (mnist_core/browser/app.py has the protocol). The run
// is driven from here one Python call per step, with a return to the event loop between steps, so
// that the worker keeps answering predictions, pause and stop while it trains. web/worker.js adds
// these handlers to its own.

const TRAIN_IMAGES = "data/train-images-idx3-ubyte.gz";
const TRAIN_LABELS = "data/train-labels-idx1-ubyte.gz";
const STEPS_PER_CALL = 1;  // one step is 50-150 ms in the worker: pause and stop answer within one

// A return to the event loop without setTimeout's 4 ms clamp: a message to ourselves.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()();
export const nextTurn = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(null); });

export function trainingHandlers({ callApp, fetchBytes, notify }) {
  let wake = null; // resolves the loop's wait while the run is paused

  async function start(args) {
    if (!callApp("has_training_set")) {
      notify({ type: "training-loading" });
      const [images, labels] = await Promise.all([fetchBytes(TRAIN_IMAGES), fetchBytes(TRAIN_LABELS)]);
      callApp("load_training_set", { images_bytes: images, labels_bytes: labels });
    }
    const info = callApp("start_training", args);
    nextTurn().then(loop); // after the answer: the page knows the run before its progress
    return info;
  }

  async function loop() {
    try {
      let stopped = false;
      for (;;) {
        const state = callApp("training_state");
        if (state.stopping) {
          stopped = true;
          break;
        }
        if (state.paused) {
          await new Promise((resolve) => { wake = resolve; });
          continue;
        }
        const started = performance.now();
        const result = callApp("training_step", { steps: STEPS_PER_CALL });
        notify({ type: "training-progress", ms: performance.now() - started, ...result });
        if (result.done) break;
        await nextTurn();
      }
      notify({ type: "training-done", stopped, model: callApp("finish_training") });
    } catch (error) {
      callApp("abandon_training");
      notify({ type: "training-error", error: String(error && error.message ? error.message : error) });
    }
  }

  // Pause, resume and stop change the run's state in Python, then wake a paused loop.
  const control = (type) => () => {
    const state = callApp(type);
    if (wake && (!state.paused || state.stopping)) {
      const resume = wake;
      wake = null;
      resume();
    }
    return state;
  };

  return {
    start_training: start,
    pause_training: control("pause_training"),
    resume_training: control("resume_training"),
    stop_training: control("stop_training"),
  };
}
