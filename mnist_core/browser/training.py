"""Training in the page: mnist-fc or mnist-cnn from scratch (or the selected model trained further), a step per call.

The worker drives a mnist_core.training.run.TrainingRun a step at a time, so that between steps it can
answer pause, stop and predictions, and send the page the numbers for its charts. The config is the
package's recipe (training.config.resolve_config) with batches of 100 rather than 1000: in the minutes
a page has, a model learns more from ten times as many smaller steps (natively, 57,000 images: FC
reaches 97 % validation accuracy after 0.6 epochs this way, after 1.25 with batches of 1000; the CNN
after 0.4). What the page trained is reproducible on the desktop: the model's metadata holds the
command line that resolves to the same config (training.config.command_line).
"""

from ..formats.gguf_constants import KEY_STARTED_FROM, KEY_STEPS_DONE, KEY_TRAINING_COMMAND
from ..formats.idx import read_idx_pair
from ..models import init_model
from ..training.config import DEFAULT_RECIPE, command_line, resolve_config
from ..training.run import TrainingRun
from .convert import to_bytes

PAGE_BATCH_SIZE = 100
# Peak learning rates for batches of 100 (natively, 2 epochs, validation split, seed 0: FC 2e-3 -> 98.2 %,
# CNN 5e-3 -> 98.5 % after 1 epoch); a model trained further starts at a tenth, not to undo what it knows.
PAGE_LEARNING_RATE = {"mnist-fc": 2e-3, "mnist-cnn": 5e-3}
CONTINUE_FACTOR = 0.1
VALIDATIONS_PER_EPOCH = 5   # points on the validation-accuracy chart per epoch (each costs one pass over them)
TRAIN_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")


class TrainingSession:
    """The MNIST training set, once loaded, and the run the page is making, if any (paused or stopping on request)."""

    def __init__(self):
        self.images = self.labels = None    # uint8 (60000, 28, 28), (60000,)
        self.run = None
        self.arch = self.command = self.started_from = None
        self.paused = self.stopping = False
        self._validate_every = 1

    def load(self, images_bytes, labels_bytes):
        """Read the MNIST training images and labels (IDX bytes, raw or gzipped); returns how many."""
        self.images, self.labels = read_idx_pair(to_bytes(images_bytes), to_bytes(labels_bytes),
                                                 images_name=TRAIN_NAMES[0], labels_name=TRAIN_NAMES[1])
        return int(self.labels.size)

    def start(self, arch, epochs, start_from=None, limit=None, seed=0):
        """Set up a run: `epochs` epochs of `arch` from scratch, or of a copy of `start_from` = (list name, model)
        (whose architecture then counts), on the first `limit` training images (None: all).

        Returns {"arch", "epochs", "steps", "steps_per_epoch", "images" (trained on per epoch), "validation"}.
        """
        if self.images is None:
            raise ValueError("the MNIST training set is not loaded")
        if self.run is not None:
            raise ValueError("a training run is already going; stop it first")
        epochs, seed = int(epochs), int(seed)
        limit = None if limit is None else int(limit)
        images, labels = (self.images, self.labels) if limit is None else (self.images[:limit], self.labels[:limit])
        if start_from is not None:
            arch = start_from[1].arch
        rate = PAGE_LEARNING_RATE[arch] * (CONTINUE_FACTOR if start_from is not None else 1)
        config = resolve_config(arch, DEFAULT_RECIPE, epochs=epochs, batch_size=PAGE_BATCH_SIZE, learning_rate=rate,
                                seed=seed)
        # A copy of the model continued: the one in the list keeps predicting while this one trains.
        model = start_from[1].to(start_from[1].xp) if start_from is not None else \
            init_model(arch, seed=seed, scheme=config.init)
        self.run = TrainingRun(model, images, labels, config)
        self.arch, self.started_from = arch, None if start_from is None else start_from[0]
        self.command = command_line(arch, f"{arch}-trained-in-page.gguf", config, limit=limit)
        self.paused = self.stopping = False
        self._validate_every = max(1, self.run.steps_per_epoch // VALIDATIONS_PER_EPOCH)
        return {"arch": arch, "epochs": epochs, "steps": self.run.total_steps,
                "steps_per_epoch": self.run.steps_per_epoch, "images": self.run.n_train,
                "validation": len(self.run.val_labels)}

    def step(self, steps=1):
        """Make up to `steps` gradient steps (never past an epoch's end): TrainingRun.advance's dict plus
        "seconds" (training time so far), "paused", "stopping" and, when the call reached a validation point
        (every 1/VALIDATIONS_PER_EPOCH epoch, each epoch's end, the end), "val_accuracy" and "val_loss"."""
        run = self._require()
        before = run.step
        result = run.advance(int(steps))
        every = self._validate_every
        if result["epoch_end"] or result["done"] or run.step // every > before // every:
            validation = run.validate()
            if validation is not None:
                result.update(val_accuracy=validation.accuracy, val_loss=validation.loss)
        result.update(seconds=run.seconds, paused=self.paused, stopping=self.stopping)
        return result

    def model_so_far(self):
        """(the run's model as far as it has trained, the steps made): the page draws its first layer's weights."""
        run = self._require()
        return run.model, run.step

    def finish(self):
        """End the run (finished or stopped early) -> (its model, with the metadata that says how it was made,
        steps made, steps planned)."""
        run = self._require()
        self.run = None
        run.close()
        run.model.metadata.update({KEY_TRAINING_COMMAND: self.command, **run.config.as_metadata(),
                                   KEY_STEPS_DONE: int(run.step)})
        if self.started_from is not None:
            run.model.metadata[KEY_STARTED_FROM] = self.started_from
        return run.model, run.step, run.total_steps

    def abandon(self):
        """Drop the run without keeping its model."""
        if self.run is not None:
            self.run.close()
        self.run = None

    def _require(self):
        if self.run is None:
            raise ValueError("no training run is going")
        return self.run
