// What every part of the page shares: element lookup, the page's state and error display.

export const $ = (id) => document.getElementById(id);
export const root = $("app");

export const state = {
  ready: false,
  model: $("model").value,      // the selected model's name in the #model list
  image28: new Uint8Array(784),   // what the model saw last (Download saves it)
  sample: null,                   // the test image (or number of them) on the canvas, until someone draws on it
  inked: false,                   // whether the canvas holds anything
  strokes: [],                    // the strokes drawn on the canvas since it was cleared (drawing.js)
  reading: null,                  // the last reading of the canvas as a number (App.read_number's result)
  chosen: null,                   // the digit of a number the user chose to see below (null: the last one)
  generation: 0,                  // bumped whenever the canvas is wiped
};

// One line in the status area; before the page is ready, the page shows its error state.
export function fail(error) {
  const message = String(error.message || error).trim().split("\n").pop();
  console.error(error);
  $("status").textContent = `Error: ${message}`;
  if (!state.ready) root.dataset.state = "error";
}

// A probability as the page writes it: "7%", "99.2%", "100%".
export const percent = (p) => `${(100 * p).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1)}%`;

// A prediction's digit as the page writes it: "7", or "7?" when the model is not sure of it.
export const digitText = ({ digit, sure }) => (sure ? String(digit) : `${digit}?`);

// 28x28 pixels (ink = 255) onto a 28x28 canvas, white ink on black, as MNIST stores them.
export function drawDigit(canvas, image28) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(28, 28);
  image28.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
  context.putImageData(image, 0, 0);
}
