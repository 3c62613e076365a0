// Teaching the model the user's handwriting: after a prediction of a drawing (or of the digit of a number
// chosen in #number), the ten #correct buttons say which digit it was; the worker keeps the correction and fine-tunes the selected model on it
// (mnist_core/browser/learning.py), and the drawing is predicted again. Corrections and the models
// fine-tuned on them are kept in this browser (storage.js) and come back after a reload.
// #reset-learning gives the models back as shipped; #forget-all also deletes models trained here.

import { $, fail, root, state } from "./dom.js";
import { clearEvaluation } from "./evaluation.js";
import { addModelOption, removeModelOption, showSelected } from "./model-list.js";
import { repredict, settled, showPrediction } from "./prediction.js";
import * as storage from "./storage.js";
import { call, onNotice } from "./worker-client.js";

const group = $("correct");
const learned = $("learned");
const resetButton = $("reset-learning");
const forgetButton = $("forget-all");
const digitButtons = [];
const forgetListeners = [];
let enabled = false;
let busy = false;
let corrected = null;  // the name of the model the last correction fine-tuned

for (let digit = 0; digit < 10; digit++) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = String(digit);
  button.dataset.digit = String(digit);
  button.setAttribute("aria-label", `It was a ${digit}`);
  button.disabled = true;
  button.addEventListener("click", () => correct(digit));
  group.append(button);
  digitButtons.push(button);
}

// A drawing with a prediction can be corrected; a test image cannot (the test set is never trained on), nor
// a drawing over one: the canvas a test image was painted on (state.generation counts the canvas's wipes)
// is not offered until it is cleared. (The worker refuses test images too: test_image_guard.py.)
let testImageCanvas = null;
new MutationObserver(() => {
  if (state.sample) testImageCanvas = state.generation;
}).observe($("sample"), { attributes: true, attributeFilter: ["data-index"] });

function updateButtons() {
  const testImage = state.sample !== null || testImageCanvas === state.generation;
  const drawing = enabled && !busy && state.inked && !testImage && $("prediction").dataset.digit !== "";
  digitButtons.forEach((button) => { button.disabled = !drawing; });
  group.title = testImage ? "Test images are never trained on: clear the canvas and draw a digit to teach the model."
    : "";
}
new MutationObserver(updateButtons).observe($("prediction"), { attributes: true, attributeFilter: ["data-count"] });

function showCount(count, detail = "") {
  learned.dataset.count = String(count);
  learned.textContent = count === 0 ? "No corrections yet." :
    `Learned from ${count} correction${count === 1 ? "" : "s"} of your handwriting${detail}.`;
  resetButton.disabled = count === 0;
}

async function correct(digit) {
  const clicked = performance.now();
  busy = true;
  updateButtons();
  try {
    await settled(); // the last stroke's final prediction, so that the image corrected is the one shown
    const image28 = new Uint8Array(state.image28);
    const result = await call("correct", { image28_bytes: new Uint8Array(image28), label: digit });
    // A digit of a number: the number is read again by the model as it is now (its digits may be found anew).
    if (state.reading && state.reading.digits.length > 1) await repredict();
    else showPrediction(result, { announce: true });
    clearEvaluation(); // the model changed
    const ms = performance.now() - clicked;
    learned.dataset.ms = ms.toFixed(0);
    learned.dataset.digit = String(result.digit);
    showCount(result.count, `; ${result.model} now reads this one as ${result.digit} ` +
                            `(${result.steps} step${result.steps === 1 ? "" : "s"}, ${(ms / 1000).toFixed(2)} s)`);
    learned.dataset.settled = "false"; // the worker consolidates, then says "learning-settled"
    corrected = state.model;
    await storage.keepCorrection(image28, digit)
      .then(() => { learned.dataset.kept = String(result.count); })
      .catch((error) => console.warn("the correction could not be kept in this browser:", error));
  } catch (error) {
    fail(error);
  } finally {
    busy = false;
    updateButtons();
  }
}

// The model the corrections taught, into IndexedDB once the worker has consolidated what it learned.
onNotice("learning-settled", async () => {
  try {
    const file = await call("model_file", { name: corrected });
    if (file.corrections) {
      await storage.keepModel({ name: file.name, kind: "learned", arch: file.arch, bytes: file.bytes });
    }
  } catch (error) {
    console.warn("could not keep the fine-tuned model in this browser:", error);
  }
  learned.dataset.settled = "true";
});
onNotice("learning-error", ({ error }) => fail(new Error(`learning stopped: ${error}`)));

async function forget({ all }) {
  try {
    const result = await call("forget_corrections");
    result.removed.forEach(removeModelOption);
    if (all) {
      for (const listener of forgetListeners) await listener();
      await storage.forgetAll();
    } else {
      await storage.forgetCorrections();
    }
    // A removed model was perhaps the selected one: the list now shows another; the worker follows it.
    showSelected((await call("select_model", { name: $("model").value })).name);
    showCount(0);
    clearEvaluation();
    await repredict();
  } catch (error) {
    fail(error);
  }
}

resetButton.addEventListener("click", () => forget({ all: false }));
forgetButton.addEventListener("click", () => forget({ all: true }));

// Called by #forget-all before the kept state is deleted (training.js removes the models it made).
export const onForgetAll = (listener) => forgetListeners.push(listener);

// Once the worker is ready: load the replay images, and put back what this browser kept.
// Returns the models trained here that came back, for training.js.
export async function enableLearning() {
  enabled = true;
  forgetButton.disabled = false;
  call("load_replay_set").catch((error) => console.warn("replay images:", error));
  let kept;
  try {
    kept = await storage.keptState();
  } catch (error) {
    console.warn("nothing kept in this browser could be read:", error);
    updateButtons();
    return [];
  }
  let result;
  try {
    result = await call("restore_kept", kept);
  } catch (error) {
    console.warn("what this browser kept could not be put back:", error);
    updateButtons();
    return [];
  }
  const trained = result.restored.filter((model) => !model.learned);
  result.restored.filter((model) => model.learned && !["mnist-fc", "mnist-cnn"].includes(model.name))
    .forEach((model) => addModelOption(model, `${model.arch}, fine-tuned here`));
  showCount(result.count);
  root.dataset.restored = String(result.count);
  if (result.refused.length) {  // stored corrections that are test images (kept by an older page): left out
    result.refused.forEach((why) => console.warn(why));
    $("status").textContent = `${result.refused.length} stored correction${result.refused.length === 1 ? " was" : "s were"}` +
      ` left out: ${result.refused[0]}`;
  }
  updateButtons();
  if (result.restored.some((model) => model.name === state.model)) await repredict();
  return trained;
}
