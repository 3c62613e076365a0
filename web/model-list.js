// The #model list as the page's modules change it: models made in the page (trained, or fine-tuned
// copies kept from an earlier visit) join it, forgotten ones leave it, and the worker's choice of
// the selected model is shown. Python keeps the same list (App.models, model_files.py).

import { $, root, state } from "./dom.js";

const modelSelect = $("model");
const count = (n) => n.toLocaleString("en");

// A model described by the worker ({name, arch, parameters, command}) as an option of #model.
export function addModelOption(model, note) {
  let option = [...modelSelect.options].find((o) => o.value === model.name);
  if (!option) {
    option = document.createElement("option");
    option.value = model.name;
    modelSelect.append(option);
  }
  option.textContent = `${model.name} (${note}, ${count(model.parameters)} parameters)`;
  option.title = model.command ? `trained with: ${model.command}` : "";
  return option;
}

export function removeModelOption(name) {
  const option = [...modelSelect.options].find((o) => o.value === name);
  if (option) option.remove();
}

// The worker selected `name` (a new model, or the one left after a removal): show it as selected.
export function showSelected(name) {
  if (name === null || name === undefined) return;
  modelSelect.value = name;
  state.model = name;
  root.dataset.model = name;
}
