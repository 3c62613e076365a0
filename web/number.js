// A number: what the worker read when the canvas holds several digits (App.read_number). #number shows the
// digits as read, each with the 28x28 image the model saw, its probability and "not sure"; each digit's
// box is drawn over the canvas. Choosing a digit (a click, or the keyboard) shows it in the prediction
// below, where #correct can teach it (prediction.js passes the chosen digit on as the prediction).

import { $, digitText, drawDigit, percent } from "./dom.js";

const panel = $("number");
const digitsGroup = $("number-digits");
const boxes = $("boxes");
const canvas = $("canvas");

// The digits' text for people: "2026", with "?" after each digit the model is not sure of.
const spoken = (digits) => digits.map(digitText).join("");

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th";
  return `${n}${suffix}`;
}

// The true digit under each digit read, from a random number's layout ([{label, box}]): the one whose box it
// overlaps most, left to right; null where it overlaps none (a piece read as a digit of its own).
function truthUnder(digits, layout) {
  if (!layout) return null;
  const across = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  return digits.map(({ box }) => {
    let best = null, most = 0;
    for (const truth of layout) {
      const overlap = across(box, truth.box);
      if (overlap > most) [best, most] = [truth.label, overlap];
    }
    return best;
  });
}

// Show a reading of several digits, `chosen` the digit shown below; `choose(i)` is called when the user picks
// another. `layout` (a random number's test images: [{label, box}]) marks the digits read wrong.
export function showNumber(reading, chosen, choose, layout) {
  const { digits } = reading;
  const truth = truthUnder(digits, layout);
  panel.hidden = false;
  panel.dataset.text = reading.text;
  panel.dataset.count = String(digits.length);
  panel.dataset.chosen = String(chosen);
  $("number-text").textContent = spoken(digits);
  digitsGroup.replaceChildren(...digits.map((digit, i) => digitButton(digit, i, i === chosen, choose, truth)));
  drawBoxes(digits, chosen, truth);
}

function digitButton(digit, i, pressed, choose, truth) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "number-digit";
  button.dataset.index = String(i);
  button.dataset.digit = String(digit.digit);
  button.dataset.sure = String(digit.sure);
  button.setAttribute("aria-pressed", String(pressed));
  if (truth && truth[i] !== digit.digit) button.dataset.wrong = "true";
  const picture = document.createElement("canvas");
  picture.width = picture.height = 28;
  drawDigit(picture, digit.image28);
  const read = document.createElement("span");
  read.className = "read";
  read.textContent = digitText(digit);
  const probability = document.createElement("span");
  probability.className = "probability";
  probability.textContent = percent(digit.probabilities[digit.digit]);
  button.append(picture, read, probability);
  const doubt = digit.sure ? "" : `, not sure: ${digit.top[0][0]} or ${digit.top[1][0]}`;
  const truthText = !truth ? "" : truth[i] === null ? ", over no test image" : `, the test image is a ${truth[i]}`;
  button.setAttribute("aria-label", `${ordinal(i + 1)} digit: ${digit.digit} (${percent(digit.probabilities[digit.digit])}` +
                                    `${doubt})${truthText}`);
  button.addEventListener("click", () => choose(i));
  return button;
}

// Each digit's box over the drawing, in the canvas's own pixels turned into percentages of its size, so that
// the boxes follow the canvas however large it shows.
function drawBoxes(digits, chosen, truth) {
  boxes.replaceChildren(...digits.map((digit, i) => {
    const [x0, y0, x1, y1] = digit.box;
    const box = document.createElement("div");
    box.className = "box";
    if (i === chosen) box.classList.add("chosen");
    if (!digit.sure) box.classList.add("unsure");
    if (truth && truth[i] !== digit.digit) box.classList.add("wrong");
    Object.assign(box.style, {
      left: `${(100 * x0) / canvas.width}%`, top: `${(100 * y0) / canvas.height}%`,
      width: `${(100 * (x1 - x0)) / canvas.width}%`, height: `${(100 * (y1 - y0)) / canvas.height}%`,
    });
    box.dataset.digit = digitText(digit);
    return box;
  }));
}

// Nothing or one digit: the number's panel and boxes go.
export function hideNumber(reading) {
  panel.hidden = true;
  panel.dataset.text = reading ? reading.text : "";
  panel.dataset.count = String(reading ? reading.digits.length : 0);
  delete panel.dataset.chosen;
  digitsGroup.replaceChildren();
  boxes.replaceChildren();
}

// What the live region says of a number before the chosen digit's prediction.
export function numberAnnouncement(reading, chosen) {
  const unsure = reading.digits.filter((d) => !d.sure).length;
  const doubt = unsure ? ` The model is not sure of ${unsure} of them.` : "";
  return `Number ${reading.text}, ${reading.digits.length} digits.${doubt} ${ordinal(chosen + 1)} digit: `;
}
