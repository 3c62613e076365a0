// While a model trains in the page, its first layer's weights redraw a few times a second, as in
// ConvNetJS's MNIST demo (#train-weights, in the training section): mnist-fc the 784 input weights of
// 64 hidden units as 28x28 pictures, mnist-cnn conv1's eight 3x3 kernels (App.training_weights),
// red positive and blue negative, each picture scaled to its own largest magnitude. They are asked
// for on training-progress notices, at most every REDRAW_MS and one at a time: the worker answers
// between two training steps.

import { $ } from "./dom.js";
import { drawTiles, record, signedTiles } from "./inside-pictures.js";
import { call, onNotice } from "./worker-client.js";

const REDRAW_MS = 250;
const FC_COLUMNS = 8;  // 64 units as 8 x 8 pictures

const canvas = $("train-weights");
const caption = $("train-weights-caption");
let asking = false;
let last = -Infinity;
let runStep = -1;  // the last step drawn: a smaller one is a new run

onNotice("training-progress", ({ step }) => {
  if (asking || performance.now() - last < REDRAW_MS) return;
  if (step < runStep) canvas.dataset.count = "0";
  redraw().catch((error) => console.warn("the first layer's weights could not be drawn:", error));
});

async function redraw() {
  asking = true;
  last = performance.now();
  try {
    let result;
    try {
      result = await call("training_weights");
    } catch {
      return;  // the run ended between the notice and the request: its last picture stays
    }
    const { shape } = result.weights;
    const values = result.weights.values;
    const fc = result.layer === "fc1";
    drawTiles(canvas, {
      values, count: shape[0], height: fc ? 28 : 3, width: fc ? 28 : 3, columns: fc ? FC_COLUMNS : shape[0],
      colour: signedTiles(values, shape[0]), scale: fc ? 2 : 10,
    });
    const what = fc ? `the input weights of ${shape[0]} of mnist-fc's hidden units` : "mnist-cnn's 8 conv1 kernels";
    caption.textContent = `First layer, as it learns: ${what}, at step ${result.step} (red positive, blue negative).`;
    canvas.setAttribute("aria-label", `${caption.textContent} Redrawn a few times a second while it trains.`);
    runStep = result.step;
    canvas.dataset.step = String(result.step);
    canvas.dataset.layer = result.layer;
    canvas.dataset.count = String(Number(canvas.dataset.count || 0) + 1);
    $("train-weights-figure").hidden = false;
    record("training", { ...result, values });
  } finally {
    asking = false;
  }
}
