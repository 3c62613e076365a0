// mnist-fc inside (#inside-fc, for inside-model.js): the 500 hidden units' activations as a grid, and
// the unit under the pointer (or tapped, or chosen with the arrow keys; else the most active) as its
// 784 input weights, a 28x28 picture, and its ten output weights (App.unit_weights). A unit's weights
// are asked for one request at a time, after any prediction on its way, and kept until the next final
// prediction (a correction changes them).

import { $, fail } from "./dom.js";
import { cellAt, drawBars, drawCells, drawTiles, largest, record, shade, signed } from "./inside-pictures.js";
import { unitWords, unitsWords } from "./inside-words.js";
import { settled } from "./prediction.js";
import { call } from "./worker-client.js";

const UNITS = { columns: 25, cell: 10, count: 500 };  // 25 x 20 cells
const KEY_STEPS = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -UNITS.columns, ArrowDown: UNITS.columns,
                    PageUp: -100, PageDown: 100 };

const grid = $("units");
let explained = null;   // the explanation shown (an mnist-fc one), or null
const unit = { hovered: null, pinned: null, shown: null, asking: false, cache: new Map() };

const activations = () => explained.activations["fc1.relu"].values;
const strongestUnit = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

// An mnist-fc explanation to show (null: none, or another architecture's) -> the grid's words.
export function showUnits(explanation, { final }) {
  explained = explanation;
  if (!explained) return "";
  if (final) unit.cache.clear();
  const values = activations();
  grid.dataset.strongest = String(strongestUnit(values));
  showUnit({ force: final }).catch(fail);
  return unitsWords(values);
}

function drawGrid() {
  drawCells(grid, activations(), { ...UNITS, colour: shade(largest(activations())), selected: unit.shown });
}

// The unit under the pointer, else the one chosen (tap, click, keys), else the most active.
function unitToShow() {
  if (unit.hovered !== null) return unit.hovered;
  if (unit.pinned !== null) return unit.pinned;
  return strongestUnit(activations());
}

async function showUnit({ force = false } = {}) {
  if (!explained) return;
  const wanted = unitToShow();
  const same = wanted === unit.shown && grid.dataset.unit === String(wanted);
  unit.shown = wanted;
  drawGrid();
  if ((same && !force) || unit.asking) return;  // a request going out picks up unit.shown when it is back
  unit.asking = true;
  try {
    while (explained) {
      const index = unit.shown;
      const key = `${explained.model}:${index}`;
      if (!unit.cache.has(key)) {
        await settled();
        const result = await call("unit_weights", { unit: index });
        unit.cache.set(key, { ...result, input: result.input.values, output: result.output.values });
      }
      if (explained && unit.shown === index) {
        drawUnit(unit.cache.get(key));
        break;
      }
    }
  } catch (error) {
    if (explained) fail(error);  // else the model changed meanwhile, to a CNN
  } finally {
    unit.asking = false;
  }
}

function drawUnit(weights) {
  const input = $("unit-input");
  const output = $("unit-output");
  drawTiles(input, { values: weights.input, height: 28, width: 28, colour: signed(largest(weights.input)) });
  drawBars(output, Array.from(weights.output));
  const words = unitWords(weights, activations()[weights.unit]);
  input.setAttribute("aria-label", `Input weights of hidden unit ${weights.unit}, red positive, blue negative.`);
  output.setAttribute("aria-label", `Output weights of hidden unit ${weights.unit}, one per digit.`);
  $("unit-caption").textContent = `${words} Bias ${weights.bias.toFixed(3)}.`;
  grid.dataset.unit = String(weights.unit);
  grid.setAttribute("aria-valuenow", String(weights.unit));
  grid.setAttribute("aria-valuetext", words);
  record("unit", weights);
}

function chooseUnit(index) {
  unit.pinned = Math.max(0, Math.min(UNITS.count - 1, index));
  showUnit().catch(fail);
}

grid.addEventListener("pointermove", (event) => {
  const index = cellAt(grid, event, UNITS);
  if (index === unit.hovered) return;
  unit.hovered = index;
  showUnit().catch(fail);
});
grid.addEventListener("pointerleave", () => {
  unit.hovered = null;
  showUnit().catch(fail);
});
grid.addEventListener("pointerdown", (event) => {
  const index = cellAt(grid, event, UNITS);
  if (index !== null) chooseUnit(index);
});
grid.addEventListener("keydown", (event) => {
  const from = unit.shown ?? 0;
  let to = null;
  if (event.key in KEY_STEPS) to = from + KEY_STEPS[event.key];
  else if (event.key === "Home") to = 0;
  else if (event.key === "End") to = UNITS.count - 1;
  if (to === null) return;
  event.preventDefault();
  unit.hovered = null;
  chooseUnit(to);
});
