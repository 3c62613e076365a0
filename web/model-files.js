// Models the user brings: a GGUF file from the file picker (#model-file) or dropped anywhere on the
// page goes to the worker, where mnist_core reads and checks it as the desktop does
// (mnist_core.browser.model_files). A good model joins the #model list, named by its file, and is
// selected; a bad one gets one line naming the file and the problem in #error, and the model in
// use stays selected.

import { $, fail, root, state } from "./dom.js";
import { clearEvaluation } from "./evaluation.js";
import { addModelOption, showSelected } from "./model-list.js";
import { repredict } from "./prediction.js";
import { call } from "./worker-client.js";

const input = $("model-file");
const errorLine = $("error");

export function enableModelFiles() {
  input.disabled = false;
}

// One line in #error (role="alert": screen readers say it at once); "" hides it.
export function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = !message;
}

const count = (n) => n.toLocaleString("en");
let opened = 0;  // files whose opening has finished, well or not

async function openFile(file) {
  if (!state.ready) {
    showError(`${file.name}: the page is still loading; open it again once it is ready`);
    return;
  }
  showError("");
  $("status").textContent = `Opening ${file.name}…`;
  try {
    const model = await call("open_model_file", { file });
    if (model.error) {
      showError(model.error);
      $("status").textContent = `${file.name} was not opened; ${state.model} is still in use.`;
      return;
    }
    addModelOption(model, model.arch);
    showSelected(model.name);
    clearEvaluation();
    $("status").textContent = `Opened ${model.name}: ${model.arch}, ${count(model.parameters)} parameters` +
                              (model.command ? `, trained with \`${model.command}\`.` : ".");
    await repredict();
  } catch (error) {
    fail(error);
  } finally {
    root.dataset.model = state.model;
    root.dataset.filesOpened = String(++opened);  // tests wait on it
  }
}

input.addEventListener("change", () => {
  const [file] = input.files;
  input.value = "";  // so that the same file can be opened again
  if (file) openFile(file);
});

// Drag and drop anywhere on the page; data-drop="over" lets the style show where it lands.
const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
document.addEventListener("dragover", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  root.dataset.drop = "over";
});
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) delete root.dataset.drop;  // left the window
});
document.addEventListener("drop", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  delete root.dataset.drop;
  const [file] = event.dataTransfer.files;
  if (file) openFile(file);
});
