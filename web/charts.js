// The training charts: the training loss at every step and the validation accuracy at every
// validation point, drawn by uPlot (web/vendor/, from npm, pinned by build_wasm.py). uPlot is
// loaded when the first chart is made, so that the rest of the page never waits for it.
// Each chart's element carries data-points (how many points it shows), for tests.

let library = null;

function loadLibrary() {
  if (library === null) {
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("vendor/uPlot.min.css", import.meta.url).href;
    document.head.append(style);
    library = import("./vendor/uPlot.esm.js").then((module) => module.default);
  }
  return library;
}

const chartWidth = (element) => Math.max(240, Math.min(420, element.clientWidth || 420));

// One line chart in `element`: x is the step, y the value. Returns {add(xs, ys), clear()}.
async function lineChart(element, { label, colour, range }) {
  const uPlot = await loadLibrary();
  const data = [[], []];
  const plot = new uPlot({
    width: chartWidth(element),
    height: 180,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false }, y: range ? { range } : {} },
    axes: [{ label: "step" }, { label, size: 56 }],
    series: [{}, { label, stroke: colour, width: 2, points: { show: false } }],
  }, data, element);
  const show = () => {
    plot.setData(data);
    element.dataset.points = String(data[0].length);
  };
  show();
  return {
    add(xs, ys) {
      data[0].push(...xs);
      data[1].push(...ys);
      show();
    },
    clear() {
      data[0].length = 0;
      data[1].length = 0;
      show();
    },
  };
}

// The loss and accuracy charts, made once; `clear` empties both for a new run.
export async function trainingCharts(lossElement, accuracyElement) {
  const [loss, accuracy] = await Promise.all([
    lineChart(lossElement, { label: "loss", colour: "#1f5fbf" }),
    lineChart(accuracyElement, {
      label: "%",
      colour: "#2a8a3a",
      range: (_, min, max) => [Math.max(0, Math.min(min, 90)), Math.min(100, Math.max(max, 99))],
    }),
  ]);
  return {
    addLosses: (steps, losses) => loss.add(steps, losses),
    addAccuracy: (step, percent) => accuracy.add([step], [percent]),
    clear() {
      loss.clear();
      accuracy.clear();
    },
  };
}
