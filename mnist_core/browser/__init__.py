"""The Python half of the web page: the Web Worker (web/worker.js) drives one `App` inside Pyodide.

JavaScript fetches files and passes their bytes in; everything else happens here. Results are
plain dicts of ints, floats, lists and bytes, which Pyodide hands back to JavaScript. Nothing in
this package needs a browser: the tests drive the same class natively and under Node.

`App` is one class for the worker to call, put together from one mixin per concern, each in its
own module: predictions.py (models, test set, drawings), evaluation.py (the whole test set,
confusion matrix), model_files.py (the model list, GGUF files the user opens),
learning.py (corrections and fine-tuning on them), training.py (training in the page), saving.py
(models as GGUF bytes to download or keep). A concern that
keeps state sets it up in its own `_init_*` method, called from `App.__init__`.
"""

from .evaluation import Evaluation
from .learning import Learning
from .model_files import ModelFiles
from .predictions import Predictions
from .saving import Saving
from .training import Training


class App(Predictions, Evaluation, ModelFiles, Learning, Training, Saving):
    """Everything the page asks of Python, as methods returning plain dicts."""

    def __init__(self, seed=None):
        Predictions.__init__(self, seed)
        self._init_evaluation()
        self._init_learning()
        self._init_training()


__all__ = ["App"]
