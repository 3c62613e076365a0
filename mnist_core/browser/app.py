"""The page's Python: one `App` whose methods are the web worker's protocol (web/worker.js).

The protocol, written down once, here:

  request   page -> worker   {id, type, ...arguments}: `type` is the name of an App method below, the
                             arguments its parameters by name (bytes as Uint8Array)
  answer    worker -> page   {id, ok: true, result} with the method's result (a dict; bytes come as
                             Uint8Array), or {id, ok: false, error: "one line"} with the message of
                             the error it raised (a ValueError or MnistCoreError saying what is wrong)
  notice    worker -> page   {type, ...} without an id, answering no request:
              progress             {step, steps, text} while the worker starts
              test-set             {count} the test set is loaded (after init has answered)
              evaluation-progress  {done, total} while evaluate_test_set runs
              learning-settled     the consolidation steps after a correction are all made
              learning-error       {error} a consolidation step failed
              training-loading     the training set is being fetched (start_training)
              training-progress    {...training_step's result, ms} after each step
              training-done        {model: finish_training's result, stopped}
              training-error       {error} the run failed and was dropped
  hand-over page -> worker   {type: "early-file", name: "snapshot" | "wasm", value} without an id, or {..., error}:
                             a large file the page asked for while it was parsed (web/index.html), the
                             snapshot's bytes or the compiled runtime, for the worker's start (python-start.js);
                             with an error the worker fetches it itself

Every request the page sends is one of these methods, with one exception: "init", which creates the
App in the worker (loading Python and the default model: load_shipped_model; once it has answered,
the test set: load_test_set, which the requests that need it wait for). Some requests are handled by
the worker before or after the method runs, since only JavaScript can fetch files or wait:
select_model (a shipped model not loaded yet is fetched first), open_model_file (the page sends
{file}, a File: check_model_file refuses it by its size before it is read), load_replay_set and
start_training (their files are fetched first; start_training then runs training_step until done,
then finish_training), correct (then consolidate, a step per turn of the event loop), pause_training
/ resume_training / stop_training (they also wake the worker's loop), evaluate_test_set (progress
notices). The worker adds "ms", its time for the call, to the answers of predict_canvas,
read_number, random_sample, sample, confusion_sample, explain and occlude_image. Results of the "inside the
model" methods (explain ... training_weights) carry their arrays as flat float32 arrays (inside.py),
which arrive in JavaScript as Float32Arrays. tests/test_protocol.py checks that web/ sends no other type
and that every method here is sent or called by the worker.

Each part keeps its own state (registry.py, test_set.py, learning.py, training.py); App only composes
them. Nothing here needs a browser: the tests drive the same class natively and under Node.
"""

import operator
import time

from ..errors import MnistCoreError
from ..models import load_model
from . import inside
from .convert import to_bytes, to_py
from .evaluation import TestSetEvaluation
from .learning import Learning
from .model_files import model_file, read_model_file, size_refusal
from .numbers import MAX_DIGITS, MIN_DIGITS, lay_out_number, read_drawing
from .predictions import EMPTY, image28, prediction, prepare_drawing
from .registry import ModelRegistry, check_architecture
from .test_set import TestSet
from .training import TrainingSession


class App:
    """Everything the page asks of Python, as methods returning plain dicts (the protocol above)."""

    def __init__(self, seed=None):
        self.models = ModelRegistry()
        self.test_set = TestSet(seed)
        self.evaluation = TestSetEvaluation()
        self.learning = Learning(self.models, self.test_set)
        self.training = TrainingSession()

    # ---------------------------------------------------------------- models

    def load_shipped_model(self, arch, gguf_bytes):
        """A shipped model's file (GGUF bytes) -> kept under its architecture's name and selected; returns its
        description {"name", "arch", "parameters", "command"}, as every method that adds or selects a model does."""
        model = load_model(to_bytes(gguf_bytes), name=f"models/{arch}-f32.gguf")
        check_architecture(model, arch, f"models/{arch}-f32.gguf")
        self.models.put(arch, model)
        self.models.select(arch)
        return self.models.describe(arch)

    def has_model(self, name):
        return name in self.models

    def select_model(self, name):
        """Select a model of the list -> the model's description; an error if the list holds none of that name."""
        self.models.select(name)
        return self.models.describe(name)

    def check_model_file(self, file_name, size):
        """{"ok": True}, or {"error": "FILE: problem"} for a file too large to be a model (not read at all)."""
        refusal = size_refusal(file_name, size)
        return {"error": refusal} if refusal else {"ok": True}

    def open_model_file(self, data, file_name):
        """A GGUF file the user opened (its bytes) -> it joins the list under its file name, selected:
        the model's description. A file that is not a model we can run gives {"error": "FILE: problem"} (one
        line, not raised: the page shows it beside the model still in use)."""
        try:
            model = read_model_file(data, file_name)
        except MnistCoreError as exc:
            return {"error": str(exc)}
        return self.models.describe(self.models.add(file_name, model))

    def model_file(self, name=None):
        """The selected (or named) model as a file: {"name", "arch", "file_name", "bytes", "command", "corrections"}."""
        name = self.models.selected if name is None else name
        return model_file(name, self.models.get(name))

    def remove_model(self, name):
        """Take a model made in the page out of the list -> {"removed", "selected"}."""
        self.models.remove(name)
        self.learning.drop(name)
        return {"removed": name, "selected": self.models.selected}

    # ---------------------------------------------------------------- predictions and the test set

    def load_test_set(self, images_bytes, labels_bytes):
        """The MNIST test images and labels (IDX bytes, raw or gzipped) -> {"count"}."""
        return {"count": self.test_set.load(images_bytes, labels_bytes)}

    def predict_canvas(self, pixels, width, height, centre=True):
        """Canvas bytes (RGBA or grayscale, any size) -> the selected model's prediction for the drawing: {"empty",
        "model", "digit", "probabilities", "top", "sure", "image28" (the 28x28 image it read)}. An empty canvas
        gives {"empty": True, "digit": None, ...}, not an error. centre=False: the reference demo's shrink."""
        image = prepare_drawing(pixels, width, height, centre)
        return dict(EMPTY) if image is None else self._predict(image)

    def read_number(self, pixels, width, height, strokes=None):
        """Canvas bytes (RGBA or grayscale, any size) and the pen strokes drawn on it, if known (a list of flat x0, y0,
        x1, y1, ... canvas pixels each) -> the number the selected model reads there: {"text", "digits": [{"digit",
        "probabilities", "top", "sure", "box" (canvas pixels), "image28"}, ...], "model"}, digits left to right (none
        on an empty canvas). One digit is read exactly as predict_canvas reads the drawing (numbers.py)."""
        return {**read_drawing(self.models.current(), pixels, width, height, strokes), "model": self.models.selected}

    def random_number(self, width, height, digits=None, seed=None):
        """A number of `digits` random test images (None: 2 to 5), seeded or from the app's generator, laid out on a
        width x height canvas -> {"text" (their labels), "scale", "digits": [{"index", "label", "image28", "x", "y",
        "box"}]}: the page paints each image at (x, y), `scale` canvas pixels per pixel, then reads the canvas."""
        if digits is None:
            count = (MIN_DIGITS, MAX_DIGITS)
        else:
            count = operator.index(digits)
            if not 1 <= count <= MAX_DIGITS:
                raise ValueError(f"a random number has 1 to {MAX_DIGITS} digits, not {digits}")
        indices = self.test_set.random_indices(count, seed)
        images, labels = zip(*(self.test_set.image(index) for index in indices), strict=True)
        return lay_out_number(images, labels, indices, width, height)

    def _predict(self, image):
        return {**prediction(self.models.current(), image), "model": self.models.selected}

    def random_sample(self, seed=None):
        """A random test image (seeded, or from the app's generator) -> sample's result."""
        return self.sample(self.test_set.random_index(seed))

    def sample(self, index):
        """Test image `index` -> predict_canvas's result for it plus "index" and "label"."""
        image, label = self.test_set.image(index)
        return {**self._predict(image), "index": int(index), "label": label}

    def evaluate_test_set(self, progress=None):
        """The selected model on the whole test set, `progress(done, total)` called as it goes -> the CLI's
        figures, "ms", "images", "confusion", "misclassified", "gallery", "gallery_images" (evaluation.py)."""
        return self.evaluation.run(self.models.current(), self.models.selected, self.test_set, progress)

    def confusion_sample(self, label, predicted, nth=0):
        """The `nth` test image (wrapping round) of the last evaluation's cell (label, predicted) -> sample's
        result plus "cell" [label, predicted] and "cell_count"."""
        index, count = self.evaluation.cell_index(self.test_set, label, predicted, nth)
        return {**self.sample(index), "cell": [int(label), int(predicted)], "cell_count": count}

    # ---------------------------------------------------------------- inside the model (mnist_core.explain)

    def explain(self, image, versus=None):
        """An image as the model reads it (784 uint8 pixels, ink = 255: bytes or an array) through the selected model
        -> mnist_core.explain.explain's result ("arch", "digit", "runner_up", "versus", "logits", "probabilities",
        "activations": {layer: {"shape", "values"}}, "saliency": 784 floats, d(logit[digit] - logit[versus]) /
        d(pixel / 255)) plus "model", its arrays as flat float32 arrays (inside.py). `versus`: the digit the saliency
        compares against (None: the runner-up)."""
        found = inside.explanation(self.models.current(), image28(image), versus)
        return {**found, "model": self.models.selected}

    def occlude_image(self, image28_bytes):
        """The image the model saw (784 bytes) -> mnist_core.explain.occlusion's result for the selected model
        ("digit", "probability", "patch", "stride", "drop" as a float32 array) plus "model"."""
        return {**inside.occluded(self.models.current(), image28(image28_bytes)), "model": self.models.selected}

    def model_weights(self, layer):
        """A layer of the selected model (mnist-cnn: "conv1", "conv2", ...) -> {"model", "layer", and each parameter
        by kind: "kernel", "bias", "weight": {"shape", "values" (float32)}}."""
        return {**inside.weights(self.models.current(), layer), "model": self.models.selected, "layer": layer}

    def unit_weights(self, unit):
        """Hidden unit `unit` of the selected mnist-fc model -> mnist_core.explain.unit_weights' result ("unit",
        "input" 28x28, "bias", "output" 10; arrays as float32) plus "model"."""
        return {**inside.unit(self.models.current(), unit), "model": self.models.selected}

    def training_weights(self, units=inside.TRAINING_UNITS):
        """The first layer's weights of the model training in the page, as far as it got -> {"arch", "step",
        "layer", "weights": {"shape", "values" (float32)}} (inside.first_layer: mnist-fc the first `units`
        hidden units' input weights, mnist-cnn conv1's kernels). An error when no run is going."""
        model, step = self.training.model_so_far()
        return {**inside.first_layer(model, units), "arch": model.arch, "step": int(step)}

    # ---------------------------------------------------------------- learning from corrections

    def load_replay_set(self, images_bytes, labels_bytes):
        """The MNIST training images replayed while fine-tuning (IDX bytes) -> {"count"}."""
        return {"count": self.learning.load_replay(images_bytes, labels_bytes)}

    def correct(self, image28_bytes, label):
        """The image the model saw (784 bytes) was the digit `label`: keep it and fine-tune the selected model -> the
        new prediction for it (as predict_canvas gives one) plus "count", "learned", "steps" and "learn_ms". Refused
        (an error) for a test image or a label that is not a digit; `consolidate` then has steps to make."""
        started = time.perf_counter()
        image = image28(image28_bytes)
        learned = self.learning.correct(image, label)
        return {**self._predict(image), **learned, "learn_ms": (time.perf_counter() - started) * 1000}

    def consolidate(self, steps=1):
        """Up to `steps` consolidation steps -> {"left": how many are still to make}."""
        return {"left": self.learning.consolidate(steps)}

    def forget_corrections(self):
        """Drop every correction; each fine-tuned model gets its weights from before (learning.Learning.forget) ->
        {"count": 0, "reset", "removed", "unloaded", "selected"}."""
        forgotten = self.learning.forget()
        return {"count": 0, **forgotten, "selected": self.models.selected}

    def restore_kept(self, images, labels, learned=(), trained=()):
        """What the page kept in IndexedDB, back after a reload: the corrections (K*784 image bytes, K label bytes),
        the models fine-tuned on them and the models trained here ([{name, bytes}] each). Nothing is selected or
        fine-tuned -> {"count", "refused" (why stored corrections were left out), "restored" (each model's
        description, with "learned": True for fine-tuned ones)}."""
        count, refused = self.learning.restore_corrections(images, labels)
        restored = []
        for entry in to_py(learned):
            name = entry["name"]
            self.learning.restore_learned(name, load_model(to_bytes(entry["bytes"]),
                                                           name=f"{name} (learned, stored in this browser)"))
            restored.append({**self.models.describe(name), "learned": True})
        for entry in to_py(trained):
            model = load_model(to_bytes(entry["bytes"]), name=f"{entry['name']} (stored in this browser)")
            restored.append(self.models.describe(self.models.add(entry["name"], model, select=False)))
        return {"count": count, "refused": refused, "restored": restored}

    # ---------------------------------------------------------------- training in the page

    def load_training_set(self, images_bytes, labels_bytes):
        """The MNIST training images and labels (IDX bytes, raw or gzipped) -> {"count"}."""
        return {"count": self.training.load(images_bytes, labels_bytes)}

    def has_training_set(self):
        return self.training.images is not None

    def start_training(self, arch, epochs, continue_selected=False, limit=None, seed=0):
        """Set up a run of `epochs` epochs: `arch` from scratch, or (continue_selected) a copy of the selected model,
        on the first `limit` training images (None: all) -> {"arch", "epochs", "steps", "steps_per_epoch",
        "images", "validation"}. An error when a run is going or the training set is not loaded."""
        start_from = (self.models.selected, self.models.current()) if continue_selected else None
        return self.training.start(arch, epochs, start_from, limit, seed)

    def training_step(self, steps=1):
        """Up to `steps` steps of the run -> TrainingSession.step's result (losses, step, epoch, validation...)."""
        return self.training.step(steps)

    def training_state(self):
        """{"paused", "stopping"} of the run going (an error when none is)."""
        if self.training.run is None:
            raise ValueError("no training run is going")
        return {"paused": self.training.paused, "stopping": self.training.stopping}

    def pause_training(self):
        """Make no more steps until resumed -> training_state."""
        self.training_state()
        self.training.paused = True
        return self.training_state()

    def resume_training(self):
        self.training_state()
        self.training.paused = False
        return self.training_state()

    def stop_training(self):
        """Make no more steps; the worker then calls finish_training, which keeps the model as far as it got."""
        self.training_state()
        self.training.stopping = True
        return self.training_state()

    def finish_training(self, name=None):
        """End the run (finished or stopped) -> its model joins the list, selected: the model's description plus
        "step" and "steps" (how far the run got)."""
        model, step, steps = self.training.finish()
        name = self.models.add(name or f"{model.arch} trained in page", model)
        return {**self.models.describe(name), "step": step, "steps": steps}

    def abandon_training(self):
        """Drop the run without keeping its model."""
        self.training.abandon()
        return {"abandoned": True}


__all__ = ["App"]
