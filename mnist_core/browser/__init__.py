"""The Python half of the web page: the Web Worker (web/worker.js) drives one `App` inside Pyodide.

JavaScript fetches files and passes their bytes in; everything else happens here. app.py holds the
protocol between page, worker and Python; the parts it composes each own their state: the model list
(registry.py), the test set (test_set.py), predictions (predictions.py), the whole test set's
evaluation (evaluation.py), model files (model_files.py), corrections and fine-tuning (learning.py),
training in the page (training.py). Nothing in this package needs a browser: the tests drive the same
class natively and under Node.
"""

from .app import App

__all__ = ["App"]
