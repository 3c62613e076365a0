// mnist-cnn inside (#inside-cnn, for inside-model.js): conv1's 8 and conv2's 16 feature maps after
// ReLU and after max pooling, each layer to one scale so that its maps compare; the 3x3 kernels of
// both (App.model_weights, asked for when the model changes and after each final prediction, since a
// correction changes them); the dense layer's 784 inputs. The figures are made here, once; style.css
// places them (a grid with the kernels beside their layer's maps).

import { $ } from "./dom.js";
import { drawTiles, largest, record, shade, signedTiles } from "./inside-pictures.js";
import { mapsWords } from "./inside-words.js";
import { settled } from "./prediction.js";
import { call } from "./worker-client.js";

const MAPS = [  // an activation, its words, CSS pixels per value (each map about 56 pixels on a side)
  { name: "conv1.relu", label: "conv1 after ReLU", scale: 2 },
  { name: "conv1.pool", label: "conv1 after max pooling", scale: 4 },
  { name: "conv2.relu", label: "conv2 after ReLU", scale: 4 },
  { name: "conv2.pool", label: "conv2 after max pooling", scale: 8 },
];
const KERNELS = [  // one row per output map, one column per input map (conv1's eight in one row)
  { layer: "conv1", label: "conv1's 8 kernels, 3 by 3", scale: 8 },
  { layer: "conv2", label: "conv2's 16 × 8 kernels, 3 by 3: a row per conv2 map, a column per conv1 map", scale: 5 },
];
const DENSE_LABEL = "the dense layer's 784 inputs: a column per place of conv2's 7×7 grid, a row per map";

const canvases = {};
function figure(key, caption) {
  const element = document.createElement("figure");
  element.id = `figure-${key.replace(".", "-")}`;
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  const text = document.createElement("figcaption");
  text.textContent = caption;
  element.append(canvas, text);
  $("inside-cnn").append(element);
  canvases[key] = canvas;
}
MAPS.forEach(({ name, label }) => figure(name, label));
KERNELS.forEach(({ layer, label }) => figure(layer, label));
figure("dense.input", DENSE_LABEL);

let kernelsOf = null;  // the model whose kernels are drawn

// An mnist-cnn explanation -> its maps drawn; the words for each layer. The kernels follow (refresh: again).
export function showCnn(explained, { final }) {
  const words = MAPS.map((layer) => showMaps(layer, explained.activations[layer.name]));
  words.push(showDense(explained.activations["dense.input"].values));
  if (final || kernelsOf !== explained.model) {
    kernelsOf = explained.model;
    showKernels().catch((error) => { kernelsOf = null; console.warn("the CNN's kernels could not be drawn:", error); });
  }
  return words;
}

function showMaps({ name, label, scale }, { shape, values }) {
  const [count, height, width] = shape;
  drawTiles(canvases[name], { values, count, height, width, columns: 8, colour: shade(largest(values)), scale });
  const words = mapsWords(label, values, shape);
  canvases[name].setAttribute("aria-label", words);
  return words;
}

function showDense(values) {  // (y, x, channel) order: 49 places x 16 maps
  drawTiles(canvases["dense.input"], {
    height: 16, width: 49, value: (_, i) => values[(i % 49) * 16 + Math.floor(i / 49)],
    colour: shade(largest(values)), scale: 6,
  });
  const active = values.filter((v) => v > 0).length;
  const words = `The dense layer reads ${active} of its 784 inputs as non-zero.`;
  canvases["dense.input"].setAttribute("aria-label", words);
  return words;
}

async function showKernels() {
  for (const { layer, label, scale } of KERNELS) {
    await settled();  // a prediction on its way goes first
    const { kernel } = await call("model_weights", { layer });
    const values = kernel.values;
    const [outputs, inputs] = kernel.shape;
    const count = outputs * inputs;
    drawTiles(canvases[layer], { values, count, height: 3, width: 3, columns: inputs > 1 ? inputs : outputs,
                                 colour: signedTiles(values, count), scale });
    canvases[layer].setAttribute("aria-label", `${label}, red positive, blue negative.`);
    record(layer, { shape: kernel.shape, values });
  }
}
