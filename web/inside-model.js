// The "inside the model" view (#inside): what the selected model computes for the digit shown, with
// every prediction, drawn from mnist_core.explain's numbers (App.explain and occlude_image in
// mnist_core/browser/app.py; docs/explain.md says how to read the pictures):
//   why this digit  saliency over the 28x28 input, against the runner-up or the digit picked in
//                   #versus; occlusion on request (#occlude)
//   mnist-fc        the hidden units and one unit's weights (inside-fc.js)
//   mnist-cnn       the feature maps, the kernels, the dense layer's input (inside-cnn.js)
//   both            the logits and the softmax
// It keeps out of the predictions' way: an explanation is asked for once the prediction is shown and
// no other prediction is on its way (prediction.js's settled), one at a time; a wish made meanwhile
// replaces the one waiting, and an answer overtaken by a newer wish is not drawn. So an explanation
// starts right after a prediction, long before the next live one is due (at most one per 60 ms),
// and a prediction never waits behind more than the one explanation the worker may be computing.
// The words for screen readers come from inside-words.js; the live region speaks only after final
// predictions.

import { $, fail } from "./dom.js";
import { showCnn } from "./inside-cnn.js";
import { showUnits } from "./inside-fc.js";
import { blank, drawBars, drawTiles, faintDigit, largest, record, signed } from "./inside-pictures.js";
import { barsWords, occlusionWords, saliencyWords } from "./inside-words.js";
import { onPredictionShown, settled } from "./prediction.js";
import { call } from "./worker-client.js";

const EMPTY_TEXT = "Draw a digit, or press Random, to see what the model computes for it.";

const view = $("inside");
const summary = $("inside-summary");
const announce = $("inside-announce");
const saliencyCanvas = $("saliency");
const versusSelect = $("versus");
const occludeButton = $("occlude");
const occlusionFigure = $("occlusion-figure");

let current = null;    // {image28, final} of the prediction shown, while it has a digit
let wish = null;       // the explanation to ask for next
let asking = false;
let occluded = null;   // {image28, model} of the occlusion picture shown

onPredictionShown((result, { announce: final }) => {
  if (result.empty) return clear();
  current = { image28: new Uint8Array(result.image28), final };
  explain(current);
});

function explain(asked) {
  wish = asked;
  if (!asking) askAll().catch(fail);
}

async function askAll() {
  asking = true;
  try {
    while (wish) {
      await settled();  // a prediction on its way goes first
      const asked = wish;
      wish = null;
      const versus = versusSelect.value === "" ? null : Number(versusSelect.value);
      const result = await call("explain", { image: asked.image28, versus });
      if (wish || current === null) continue;  // overtaken (the newer wish is drawn instead) or cleared
      show(result, asked);
    }
  } finally {
    asking = false;
  }
}

const sameImage = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

function show(result, asked) {
  const explained = { ...result, image28: asked.image28 };
  const fc = result.arch === "mnist-fc";
  $("inside-fc").hidden = !fc;
  $("inside-cnn").hidden = fc;
  Object.assign(view.dataset, { arch: result.arch, model: result.model, digit: String(result.digit),
                                versus: String(result.versus), ms: result.ms.toFixed(2) });
  occludeButton.disabled = false;
  if (occluded && (occluded.model !== result.model || !sameImage(occluded.image28, asked.image28))) hideOcclusion();

  const words = [showSaliency(result, asked.image28)];
  if (fc) {
    words.push(showUnits(explained, { final: asked.final }));
  } else {
    showUnits(null, { final: true });
    words.push(...showCnn(explained, { final: asked.final }));
  }
  words.push(showBars("logits", "Logits", result.logits, (v) => v.toFixed(2), result.digit),
             showBars("softmax", "Softmax", result.probabilities, (p) => `${(100 * p).toFixed(1)}%`, result.digit));
  const compared = result.versus === result.runner_up ? `runner-up ${result.runner_up}` : `against ${result.versus}`;
  summary.textContent = `${result.model} read ${result.digit}, ${compared}. ${words[1]}`;
  // Said once a stroke ends: why, the first layer, the probabilities (each picture's label has the rest).
  if (asked.final) announce.textContent = `Inside ${result.model}: ${words[0]} ${words[1]} ${words.at(-1)}`;
  view.dataset.count = String(Number(view.dataset.count || 0) + 1);
  view.dataset.state = asked.final ? "final" : "live";
  record("explanation", explained);
}

// The CNN's saliency off the ink is an artefact of ties in its max-pooling windows (docs/explain.md):
// it is shown only on the ink and the pixels next to it.
function nearInk(image28) {
  const near = new Uint8Array(784);
  image28.forEach((v, i) => {
    if (v === 0) return;
    const y = Math.floor(i / 28), x = i % 28;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        if (y + dy >= 0 && y + dy < 28 && x + dx >= 0 && x + dx < 28) near[(y + dy) * 28 + x + dx] = 1;
      }
    }
  });
  return near;
}

function showSaliency(result, image28) {
  const muted = result.arch === "mnist-cnn";
  const near = muted ? nearInk(image28) : null;
  const map = muted ? result.saliency.map((v, i) => (near[i] ? v : 0)) : result.saliency;
  drawTiles(saliencyCanvas, { values: map, height: 28, width: 28, colour: signed(largest(map), faintDigit(image28)) });
  const words = saliencyWords(map, image28, result.digit, result.versus);
  saliencyCanvas.setAttribute("aria-label", `Saliency picture. ${words}`);
  const against = result.digit === result.versus ? "" : ` and not ${result.versus}`;
  $("why-title").textContent = `Why ${result.digit}${against}`;
  $("saliency-caption").textContent = result.digit === result.versus ?
    `Pick a digit other than ${result.digit} to compare with.` :
    `Red: more ink here pushes toward ${result.digit}; blue: toward ${result.versus}.` +
    (muted ? " Only on and next to the ink: elsewhere the CNN's gradient is an artefact of max pooling." : "");
  record("saliency", map);
  return words;
}

function showBars(id, label, values, format, digit) {
  drawBars($(id), values, { highlight: digit });
  const words = barsWords(label, values, format);
  $(id).setAttribute("aria-label", words);
  return words;
}

// ---------------------------------------------------------------- the digit compared with, and occlusion

versusSelect.addEventListener("change", () => {
  if (current) explain({ ...current, final: true });
});

occludeButton.addEventListener("click", async () => {
  if (!current) return;
  const asked = current;
  occludeButton.disabled = true;
  occlusionFigure.dataset.state = "working";
  try {
    await settled();
    const result = await call("occlude_image", { image28_bytes: asked.image28 });
    if (!current || !sameImage(asked.image28, current.image28)) return;  // the drawing changed meanwhile
    const drop = result.drop;
    const canvas = $("occlusion");
    const colour = signed(largest(drop), faintDigit(asked.image28));
    drawTiles(canvas, { values: drop, height: 28, width: 28, colour });
    const words = occlusionWords(drop, asked.image28, result.digit);
    canvas.setAttribute("aria-label", `Occlusion picture. ${words}`);
    announce.textContent = words;
    occluded = { image28: asked.image28, model: result.model };
    occlusionFigure.hidden = false;
    Object.assign(occlusionFigure.dataset, { state: "done", digit: String(result.digit), ms: result.ms.toFixed(1) });
    record("occlusion", { ...result, drop });
  } catch (error) {
    fail(error);
  } finally {
    occludeButton.disabled = !current;
  }
});

function hideOcclusion() {
  occluded = null;
  occlusionFigure.hidden = true;
  delete occlusionFigure.dataset.state;
}

// An empty canvas: nothing inside to show.
function clear() {
  current = null;
  wish = null;
  hideOcclusion();
  showUnits(null, { final: true });
  occludeButton.disabled = true;
  for (const canvas of view.querySelectorAll("canvas")) blank(canvas);
  summary.textContent = EMPTY_TEXT;
  announce.textContent = "";
  view.dataset.digit = "";
  view.dataset.state = "empty";
}
