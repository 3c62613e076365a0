"""Training in the page: mnist-fc or mnist-cnn from scratch (or the selected model trained further), one step per call.

The worker drives a mnist_core.training.run.TrainingRun a few steps at a time, so that between
calls it can answer pause, stop and predictions, and send the page the numbers for its charts.
The recipe is the package's "best" one (He initialisation, cosine decay, the affine
augmentation; not "drawn", whose redrawn digits take minutes of Python to prepare) with batches
of 100 rather than 1000: in the minutes a page has, a model learns more from ten times as many
smaller steps (natively, 57,000 images: FC reaches 97 % validation accuracy after 0.6 epochs
this way, after 1.25 with batches of 1000; the CNN after 0.4). What the page trained is
reproducible on the desktop: the model's metadata holds the equivalent command line.
"""

import shlex

from ..formats.idx import read_idx_pair
from ..models import init_model
from ..training.run import TrainingRun
from ..training.trainer import RECIPES, TrainConfig
from .convert import to_bytes
from .model_files import COMMAND_KEY

PAGE_RECIPE = "best"
PAGE_BATCH_SIZE = 100
# Peak learning rates for batches of 100 (natively, 2 epochs, validation split, seed 0: FC 2e-3 -> 98.2 %,
# CNN 5e-3 -> 98.5 % after 1 epoch); a model trained further starts at a tenth, not to undo what it knows.
PAGE_LEARNING_RATE = {"mnist-fc": 2e-3, "mnist-cnn": 5e-3}
CONTINUE_FACTOR = 0.1
VALIDATIONS_PER_EPOCH = 5   # points on the validation-accuracy chart per epoch (each costs one pass over them)
TRAIN_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")


class Training:
    """The MNIST training set and the training run the page is making, if any."""

    def _init_training(self):
        self.train_images = self.train_labels = None    # uint8 (60000, 28, 28), (60000,)
        self.training = None                             # {"run": TrainingRun, "name", "command", ...}

    def load_training_set(self, images_bytes, labels_bytes):
        """Load the MNIST training images and labels (IDX bytes, raw or gzipped)."""
        self.train_images, self.train_labels = read_idx_pair(
            to_bytes(images_bytes), to_bytes(labels_bytes), images_name=TRAIN_NAMES[0], labels_name=TRAIN_NAMES[1])
        return {"count": int(self.train_labels.size)}

    def has_training_set(self):
        return self.train_images is not None

    def start_training(self, arch, epochs, continue_selected=False, limit=None, seed=0):
        """Set up a run: `epochs` epochs of mnist-fc or mnist-cnn from scratch, or of a copy of the selected model
        (continue_selected, whose architecture then counts), on the first `limit` training images (None: all).

        Returns {"arch", "epochs", "steps", "steps_per_epoch", "images" (trained on per epoch), "validation"}.
        """
        if self.train_images is None:
            raise ValueError("the MNIST training set is not loaded")
        if self.training is not None:
            raise ValueError("a training run is already going; stop it first")
        epochs, seed = int(epochs), int(seed)
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        limit = None if limit is None else int(limit)
        images, labels = (self.train_images, self.train_labels) if limit is None else \
            (self.train_images[:limit], self.train_labels[:limit])
        if continue_selected:
            start = self._model()
            arch, model = start.arch, start.to(start.xp)  # a copy: the model in the list keeps predicting
        else:
            model = None
        recipe = RECIPES[PAGE_RECIPE]
        rate = PAGE_LEARNING_RATE[arch] * (CONTINUE_FACTOR if continue_selected else 1)
        config = TrainConfig(epochs=epochs, batch_size=PAGE_BATCH_SIZE, learning_rate=rate, seed=seed,
                             init=recipe["init"], schedule=recipe["schedule"], augment=recipe["augment"])
        if model is None:
            model = init_model(arch, seed=seed, scheme=config.init)
        run = TrainingRun(model, images, labels, config)
        file_name = f"{arch}-trained-in-page.gguf"
        command = ["python", "-m", "mnist_core.train", arch, file_name, "--recipe", PAGE_RECIPE,
                   "--epochs", str(epochs), "--batch-size", str(PAGE_BATCH_SIZE), "--lr", f"{rate:g}",
                   "--seed", str(seed)]
        if limit is not None:
            command += ["--limit", str(limit)]
        self.training = {"run": run, "arch": arch, "command": shlex.join(command),
                         "started_from": self.arch if continue_selected else None,
                         "validate_every": max(1, run.steps_per_epoch // VALIDATIONS_PER_EPOCH)}
        return {"arch": arch, "epochs": epochs, "steps": run.total_steps, "steps_per_epoch": run.steps_per_epoch,
                "images": run.n_train, "validation": len(run.val_labels)}

    def training_step(self, steps=1):
        """Make up to `steps` gradient steps of the run (never past an epoch's end).

        Returns TrainingRun.advance's dict ("losses", "accuracies", "step", "epoch", "epoch_end", "done",
        "images") plus "seconds" (training time so far) and, when this call reached a validation
        point (every 1/VALIDATIONS_PER_EPOCH epoch, each epoch's end, the end), "val_accuracy" and "val_loss".
        """
        if self.training is None:
            raise ValueError("no training run is going")
        run = self.training["run"]
        before = run.step
        result = run.advance(int(steps))
        every = self.training["validate_every"]
        if result["epoch_end"] or result["done"] or run.step // every > before // every:
            validation = run.validate()
            if validation is not None:
                result.update(val_accuracy=validation.accuracy, val_loss=validation.loss)
        result["seconds"] = run.seconds
        return result

    def finish_training(self, name=None):
        """End the run (finished or stopped early) and add its model to the list, selected; returns
        `describe_model` of it plus "step" and "steps" (how far the run got)."""
        if self.training is None:
            raise ValueError("no training run is going")
        training, self.training = self.training, None
        run = training["run"]
        metadata = {COMMAND_KEY: training["command"], **run.config.as_metadata(),
                    "mnist_core.training.steps_done": int(run.step)}
        if training["started_from"] is not None:
            metadata["mnist_core.training.started_from"] = training["started_from"]
        run.model.metadata.update(metadata)
        described = self.add_model(name or f"{training['arch']} trained in page", run.model)
        described.update(step=run.step, steps=run.total_steps)
        return described

    def abandon_training(self):
        """Drop the run without keeping its model."""
        self.training = None
        return {"abandoned": True}
