// Training in the page: #train trains mnist-fc or mnist-cnn from scratch (or the selected model
// further) in the worker with the package's trainer (mnist_core/browser/training.py, driven step
// by step by worker-training.js), with live charts (charts.js), the epoch, accuracy and time left
// in #train-status, and pause, resume and stop. The model joins the #model list, selected, and is
// kept in this browser. #save-model downloads the selected model as a GGUF file.

import { $, fail, root, state } from "./dom.js";
import { trainingCharts } from "./charts.js";
import { clearEvaluation } from "./evaluation.js";
import { onForgetAll } from "./learning.js";
import { addModelOption, removeModelOption, showSelected } from "./model-list.js";
import { repredict } from "./prediction.js";
import "./training-weights.js";  // the first layer's weights, redrawn as the model learns
import * as storage from "./storage.js";
import { call, onNotice } from "./worker-client.js";

const controls = {
  arch: $("train-arch"), epochs: $("train-epochs"), images: $("train-images"),
  start: $("train"), pause: $("train-pause"), stop: $("train-stop"), save: $("save-model"),
};
const status = $("train-status");
const trainedHere = new Set();  // names of the models trained in this page (and kept)
let charts = null;
let run = null;  // {info, started (ms), lastStep, paused}

const seconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

function setState(name) {
  status.dataset.state = name;
  const running = name === "running" || name === "paused" || name === "loading";
  controls.start.disabled = running;
  controls.pause.disabled = !(name === "running" || name === "paused");
  controls.stop.disabled = !(name === "running" || name === "paused");
  controls.pause.textContent = name === "paused" ? "Resume" : "Pause";
  controls.pause.setAttribute("aria-pressed", String(name === "paused"));
  for (const input of [controls.arch, controls.epochs, controls.images]) input.disabled = running;
}

function describeProgress(result) {
  const { info } = run;
  const epoch = Math.min(info.epochs, Math.floor(result.step / info.steps_per_epoch) + (result.done ? 0 : 1));
  const elapsed = (performance.now() - run.started) / 1000;
  const left = result.step ? elapsed * (info.steps - result.step) / result.step : NaN;
  const accuracy = status.dataset.accuracy ? ` · validation ${status.dataset.accuracy} %` : "";
  const loss = result.losses.length ? ` · loss ${result.losses[result.losses.length - 1].toFixed(3)}` : "";
  status.dataset.epoch = String(epoch);
  status.dataset.step = String(result.step);
  status.textContent = `${info.arch}: epoch ${epoch} of ${info.epochs} · step ${result.step} of ${info.steps}${loss}` +
    `${accuracy} · ${seconds(elapsed)}` + (result.done || Number.isNaN(left) ? "" : `, about ${seconds(left)} left`);
}

onNotice("training-loading", () => {
  status.textContent = "Loading the 60,000 MNIST training images…";
});

onNotice("training-progress", (result) => {
  if (!run) return;
  const since = ((performance.now() - run.started) / 1000).toFixed(1);
  const firstStep = result.step - result.losses.length + 1;
  charts.addLosses(result.losses.map((_, i) => firstStep + i), result.losses);
  if (result.val_accuracy !== undefined) {
    const percent = 100 * result.val_accuracy;
    status.dataset.accuracy = percent.toFixed(2);
    charts.addAccuracy(result.step, percent);
    if (percent >= 97 && !status.dataset.reached97) status.dataset.reached97 = since;
  }
  status.dataset.stepMs = result.ms.toFixed(1);
  if (result.epoch_end && result.epoch === 1) status.dataset.firstEpochSeconds = since;
  describeProgress(result);
});

onNotice("training-done", async ({ model, stopped }) => {
  const finished = run;
  run = null;
  setState(stopped ? "stopped" : "done");
  status.textContent += stopped ? ` · stopped after ${model.step} of ${model.steps} steps` : " · done";
  addModelOption(model, `${model.arch}, trained here`);
  trainedHere.add(model.name);
  showSelected(model.name);
  clearEvaluation();
  status.dataset.model = model.name;
  status.dataset.seconds = ((performance.now() - finished.started) / 1000).toFixed(1);
  try {
    await repredict();
    const file = await call("model_file", { name: model.name });
    await storage.keepModel({ name: model.name, kind: "trained", arch: model.arch, bytes: file.bytes });
    status.dataset.kept = "true";
  } catch (error) {
    console.warn("the trained model could not be kept in this browser:", error);
  }
});

onNotice("training-error", ({ error }) => {
  run = null;
  setState("failed");
  fail(new Error(`training stopped: ${error}`));
});

controls.start.addEventListener("click", async () => {
  const choice = controls.arch.value;
  const continueSelected = choice === "continue";
  const epochs = Math.max(1, Math.min(100, Number(controls.epochs.value) || 1));
  const limit = controls.images.value === "all" ? null : Number(controls.images.value);
  setState("loading");
  for (const key of ["accuracy", "epoch", "step", "reached97", "firstEpochSeconds", "model", "seconds", "kept"]) {
    delete status.dataset[key];
  }
  status.textContent = "Starting…";
  try {
    $("charts").hidden = false; // before the charts are made: uPlot measures the width it is given
    charts = charts || await trainingCharts($("chart-loss"), $("chart-accuracy"));
    charts.clear();
    const info = await call("start_training", { arch: continueSelected ? null : choice, epochs, continue_selected: continueSelected, limit });
    run = { info, started: performance.now() };
    status.dataset.epoch = "1";
    setState("running");
    status.textContent = `${info.arch}: training on ${info.images.toLocaleString("en")} images ` +
                         `(${info.validation.toLocaleString("en")} held out for validation), ${info.steps} steps…`;
  } catch (error) {
    setState("failed");
    fail(error);
  }
});

controls.pause.addEventListener("click", async () => {
  const pausing = status.dataset.state === "running";
  try {
    await call(pausing ? "pause_training" : "resume_training");
    if (run) setState(pausing ? "paused" : "running");
  } catch (error) {
    fail(error);
  }
});

controls.stop.addEventListener("click", () => call("stop_training").catch(fail));

controls.save.addEventListener("click", async () => {
  try {
    const file = await call("model_file", {});
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([file.bytes], { type: "application/octet-stream" }));
    link.download = file.file_name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    $("status").textContent = `Saved ${file.file_name}` +
      (file.corrections ? `: ${file.name} after ${file.corrections} corrections.` : ".");
  } catch (error) {
    fail(error);
  }
});

onForgetAll(async () => {
  for (const name of trainedHere) {
    await call("remove_model", { name });
    removeModelOption(name);
  }
  trainedHere.clear();
});

// Once the worker is ready: the models trained here on an earlier visit join the list again.
export function enableTraining(restored = []) {
  for (const model of restored) {
    addModelOption(model, `${model.arch}, trained here`);
    trainedHere.add(model.name);
  }
  setState("idle");
  controls.save.disabled = false;
  root.dataset.training = "ready";
  if (!state.ready) controls.start.disabled = true;
}
