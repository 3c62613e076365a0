// What the "inside the model" view (inside-model.js) shows, in words: the text alternatives of its
// pictures, and what its live region says after a final prediction: which layer, which digit against
// which, and where in the image the strongest pixels lie.

const PLACES = [
  ["at the top left", "at the top", "at the top right"],
  ["on the left", "in the middle", "on the right"],
  ["at the bottom left", "at the bottom", "at the bottom right"],
];
const STRONGEST = 20;  // the pixels of a map that count as its strongest of one sign

// Where the STRONGEST largest values of `sign` (+1 or -1) of a size x size map lie: {place (a ninth of the
// picture, by their weighted centre), onInk (whether most of their weight is on the ink of `image28`)}, or
// null when no value has that sign.
export function strongest(map, sign, { size = 28, image28 = null } = {}) {
  const order = Array.from(map.keys()).filter((i) => sign * map[i] > 0).sort((a, b) => sign * (map[b] - map[a]));
  const top = order.slice(0, STRONGEST);
  if (top.length === 0) return null;
  let total = 0, x = 0, y = 0, ink = 0;
  for (const i of top) {
    const weight = Math.abs(map[i]);
    total += weight;
    x += weight * (i % size);
    y += weight * Math.floor(i / size);
    if (image28 && image28[i] > 0) ink += weight;
  }
  const third = (c) => Math.min(2, Math.floor((3 * (c / total + 0.5)) / size));
  return { place: PLACES[third(y)][third(x)], onInk: ink > total / 2 };
}

// "Why 7 and not 1: the ink at the top left pushes most toward 7; more ink in the middle would push most toward 1."
export function saliencyWords(saliency, image28, digit, versus) {
  if (digit === versus) return `Why ${digit}: against ${digit} itself every pixel counts zero; pick another digit.`;
  const part = (found, toward) => {
    if (!found) return `no pixel pushes toward ${toward}`;
    return found.onInk ? `the ink ${found.place} pushes most toward ${toward}`
                       : `more ink ${found.place} would push most toward ${toward}`;
  };
  const pushes = strongest(saliency, 1, { image28 });
  const against = strongest(saliency, -1, { image28 });
  return `Why ${digit} and not ${versus}: ${part(pushes, digit)}; ${part(against, versus)}.`;
}

// "Occlusion: erasing the ink at the top costs 7 most."
export function occlusionWords(drop, image28, digit) {
  const costs = strongest(drop, 1, { image28 });
  const helps = strongest(drop, -1, { image28 });
  return `Occlusion for ${digit}: ` + (costs ? `erasing ${costs.place} costs ${digit} most` : "no erasing costs it") +
         (helps ? `; erasing ${helps.place} would help it most.` : ".");
}

const indicesByValue = (values) => Array.from(values.keys()).sort((a, b) => values[b] - values[a]);
const list = (items) => (items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`);

// "fc1: 143 of 500 hidden units are active; the strongest are units 42, 17 and 300."
export function unitsWords(values) {
  const active = values.filter((v) => v > 0).length;
  const top = indicesByValue(values).slice(0, 3).filter((i) => values[i] > 0);
  return `fc1: ${active} of ${values.length} hidden units are active` +
         (top.length ? `; the strongest ${top.length === 1 ? "is unit" : "are units"} ${list(top)}.` : ".");
}

// "Hidden unit 42, activation 2.31: its input weights are most positive at the top left and most negative in the
// middle; its output weights favour 7 most and 1 least."
export function unitWords(unit, activation) {
  const input = unit.input;
  const plus = strongest(input, 1);
  const minus = strongest(input, -1);
  const order = indicesByValue(unit.output);
  return `Hidden unit ${unit.unit}` + (activation === undefined ? "" : `, activation ${activation.toFixed(2)}`) +
         `: its input weights are most positive ${plus ? plus.place : "nowhere"} and most negative ` +
         `${minus ? minus.place : "nowhere"}; its output weights favour ${order[0]} most and ${order.at(-1)} least.`;
}

// "conv1 after ReLU, 8 maps of 28 by 28: the most active is map 3, strongest at the top left."
export function mapsWords(label, values, [count, height, width]) {
  const size = height * width;
  let best = 0, bestSum = -1;
  for (let m = 0; m < count; m++) {
    let sum = 0;
    for (let i = 0; i < size; i++) sum += values[m * size + i];
    if (sum > bestSum) [best, bestSum] = [m, sum];
  }
  if (bestSum <= 0) return `${label}, ${count} maps of ${height} by ${width}: none is active.`;
  const where = strongest(values.subarray(best * size, (best + 1) * size), 1, { size: width });
  return `${label}, ${count} maps of ${height} by ${width}: the most active is map ${best}, strongest ${where.place}.`;
}

// "Logits: 7 highest at 12.3, then 1 at 4.5 and 9 at 2.0." / "Softmax: 7 at 99.8%, then 1 at 0.1% and 9 at 0.0%."
export function barsWords(label, values, format) {
  const [first, ...next] = indicesByValue(values).slice(0, 3);
  return `${label}: ${first} highest at ${format(values[first])}, then ` +
         `${list(next.map((d) => `${d} at ${format(values[d])}`))}.`;
}
