// Evaluation of the whole test set (mnist_core.browser.evaluation, run in the worker): a progress bar
// while it runs, then what `python -m mnist_core.eval` prints, a confusion matrix and the
// misclassified images. A click on a count or an image puts that test image on the canvas with
// its prediction, as Random does.

import { $, drawDigit, fail, state } from "./dom.js";
import { showTestImage } from "./prediction.js";
import { call, onNotice } from "./worker-client.js";

const button = $("evaluate");
const bar = $("eval-progress");
const output = $("eval-result");
const details = $("eval-details");
const table = $("confusion");
const gallery = $("gallery");
const THUMB_SCALE = 2;  // gallery images at 56x56 CSS pixels

let running = false;
let clicks = new Map();  // "label,predicted" -> clicks so far: each click shows the cell's next image

export function enableEvaluation() {
  button.disabled = false;
}

// The result belongs to one model: once another is selected, it goes.
export function clearEvaluation() {
  if (running) return;
  output.replaceChildren();
  for (const key of ["model", "accuracy", "loss", "images", "ms"]) delete output.dataset[key];
  details.hidden = true;
}

onNotice("evaluation-progress", ({ done, total }) => {
  bar.value = done / total;
  output.textContent = `Evaluating ${state.model}: ${done.toLocaleString("en")} of ${total.toLocaleString("en")} ` +
                       "test images…";
});

$("model").addEventListener("change", clearEvaluation);

button.addEventListener("click", async () => {
  if (running) return;
  clearEvaluation();
  running = true;
  button.disabled = true;
  bar.value = 0;
  bar.hidden = false;
  output.textContent = `Evaluating ${state.model}…`;
  try {
    showResult(await call("evaluate_test_set"));
  } catch (error) {
    output.textContent = "";
    fail(error);
  } finally {
    running = false;
    button.disabled = false;
    bar.hidden = true;
  }
});

function showResult(result) {
  const count = (n) => n.toLocaleString("en");
  Object.assign(output.dataset, {
    model: result.model, accuracy: result.accuracy, loss: result.loss, images: String(result.images),
    ms: result.ms.toFixed(1),
  });
  const summary = document.createElement("p");
  summary.textContent = `${result.model} (${result.arch}): accuracy ${result.accuracy} ± ${result.accuracy_uncertainty} %, ` +
    `loss ${result.loss} ± ${result.loss_uncertainty} on ${count(result.images)} test images, ` +
    `${count(result.misclassified)} misclassified; ${(result.ms / 1000).toFixed(2)} s in the worker.`;
  // The lines `python -m mnist_core.eval` prints for the same model and test set.
  const cli = document.createElement("pre");
  cli.textContent = `mnist_model_eval: model evaluation on ${result.images} images took ${result.ms.toFixed(2)} ms\n` +
                    `main: test_loss=${result.loss}+-${result.loss_uncertainty}\n` +
                    `main: test_acc=${result.accuracy}+-${result.accuracy_uncertainty}%`;
  output.replaceChildren(summary, cli);
  showConfusion(result.confusion);
  showGallery(result);
  details.hidden = false;
}

// Colour by count: the diagonal (right) in blue, mistakes in red, each on a log scale of its own
// maximum; a dark cell gets light text.
function colour(cell, count, max, right) {
  if (!count) return;
  const strength = 0.12 + 0.88 * Math.log1p(count) / Math.log1p(max);
  cell.style.background = `rgba(${right ? "31, 95, 191" : "200, 40, 40"}, ${strength.toFixed(3)})`;
  cell.classList.toggle("dark", strength > 0.65);
}

function showConfusion(confusion) {
  clicks = new Map();
  const digits = [...Array(10).keys()];
  const maxRight = Math.max(...digits.map((d) => confusion[d][d]));
  const maxWrong = Math.max(1, ...digits.flatMap((l) => digits.filter((p) => p !== l).map((p) => confusion[l][p])));
  const head = document.createElement("thead");
  head.innerHTML = '<tr><th scope="col">label ↓ prediction →</th>' +
                   digits.map((d) => `<th scope="col">${d}</th>`).join("") + "</tr>";
  const body = document.createElement("tbody");
  for (const label of digits) {
    const row = body.insertRow();
    row.innerHTML = `<th scope="row">${label}</th>`;
    for (const predicted of digits) {
      const count = confusion[label][predicted];
      const cell = row.insertCell();
      colour(cell, count, label === predicted ? maxRight : maxWrong, label === predicted);
      if (!count) {
        cell.textContent = "0";
        continue;
      }
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = String(count);
      open.dataset.label = String(label);
      open.dataset.predicted = String(predicted);
      open.setAttribute("aria-label", `${count} test images of a ${label} predicted as ${predicted}: show one`);
      open.addEventListener("click", () => showCell(label, predicted));
      cell.append(open);
    }
  }
  table.replaceChildren(table.caption, head, body);
}

async function showCell(label, predicted) {
  const key = `${label},${predicted}`;
  const nth = clicks.get(key) || 0;
  clicks.set(key, nth + 1);
  try {
    showTestImage(await call("confusion_sample", { label, predicted, nth }));
    $("canvas").scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (error) {
    fail(error);
  }
}

function showGallery(result) {
  const note = $("gallery-note");
  note.textContent = result.misclassified > result.gallery.length
    ? `the first ${result.gallery.length} of ${result.misclassified.toLocaleString("en")}` : `${result.misclassified}`;
  const thumbs = result.gallery.map(([index, label, predicted], i) => {
    const open = document.createElement("button");
    open.type = "button";
    open.className = "thumb";
    open.dataset.index = String(index);
    open.title = `test image ${index}: a ${label}, predicted ${predicted}`;
    open.setAttribute("aria-label", open.title);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 28;
    canvas.style.width = canvas.style.height = `${28 * THUMB_SCALE}px`;
    drawDigit(canvas, result.gallery_images.subarray(784 * i, 784 * (i + 1)));
    const caption = document.createElement("span");
    caption.textContent = `${label}→${predicted}`;
    open.append(canvas, caption);
    open.addEventListener("click", () => {
      call("sample", { index })
        .then((sample) => {
          showTestImage(sample);
          $("canvas").scrollIntoView({ block: "nearest", behavior: "smooth" });
        })
        .catch(fail);
    });
    return open;
  });
  gallery.replaceChildren(...thumbs);
}

