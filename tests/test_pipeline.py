"""How steps run (engine.py: threads, prefetching) never changes what they compute; errors and early stops handled."""

import threading

import numpy as np
import pytest

from mnist_core.layers import Workspace
from mnist_core.models import init_model
from mnist_core.training import TrainConfig, TrainingRun, train
from mnist_core.training.engine import StepExecutor, StepPool, StepTimes, batch_source
from mnist_core.training.pipeline import epoch_order, prepare_batch
from test_training import synthetic_digits

# Augmentation with every transform the trainer knows, not just the affine warp, so that what is
# checked holds for whatever augment_batch does with its generator.
HEAVY = dict(augment=True, stroke_width=0.5, shear=0.2, elastic=2.0)


def batch_threads():
    return [t for t in threading.enumerate() if t.name == "mnist-core-batches"]


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_a_seeded_run_gives_the_same_model_with_and_without_the_background_thread(arch):
    images, labels = synthetic_digits(260, seed=1)
    models, histories = [], []
    for prefetch in (True, False):
        config = TrainConfig(epochs=2, batch_size=40, learning_rate=0.005, seed=7, **HEAVY)
        model = init_model(arch, seed=7)
        histories.append(train(model, images, labels, config, prefetch=prefetch))
        models.append(model)
    threaded, inline = models
    for name, value in inline.params.items():
        np.testing.assert_array_equal(threaded.params[name], value)
    assert [(h.train_loss, h.val_loss) for h in histories[0]] == [(h.train_loss, h.val_loss) for h in histories[1]]
    assert not batch_threads()


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_a_seeded_run_gives_the_same_model_whether_one_thread_or_two_take_a_steps_slices(arch, monkeypatch):
    """Slices of a batch run at once in a thread pool, their gradients summed in slice order: the same arithmetic
    (BLAS itself rounds differently with another number of threads of its own, so here it has one either way)."""
    from mnist_core.backend import limit_blas_threads
    from mnist_core.models import model_class
    monkeypatch.setattr(model_class(arch), "training_slice", 30)   # batches of 80: slices of 30, 30 and 20
    monkeypatch.setattr("os.cpu_count", lambda: 2)                 # two step threads leave BLAS one each
    images, labels = synthetic_digits(260, seed=3)
    models = []
    for threads in (1, 2):
        config = TrainConfig(epochs=2, batch_size=80, learning_rate=0.005, seed=9, **HEAVY)
        executor = StepExecutor(init_model(arch), config.batch_size, threads)
        assert executor.threads == threads
        executor.close()
        model = init_model(arch, seed=9)
        with limit_blas_threads(1):
            train(model, images, labels, config, threads=threads)
        models.append(model)
    one, two = models
    for name, value in one.params.items():
        np.testing.assert_array_equal(two.params[name], value)
    assert not [t for t in threading.enumerate() if t.name.startswith("mnist-core-step")]


def test_a_batch_depends_only_on_seed_epoch_and_index_not_on_preparation_order():
    images, labels = synthetic_digits(300, seed=2)
    model = init_model("mnist-fc")
    config = TrainConfig(batch_size=50, seed=3, **HEAVY)
    order = epoch_order(config.seed, 1, len(labels))

    def batch(b):
        return prepare_batch(model, images, labels.astype(np.int64), order, config, 1, b)

    later_first = batch(4)
    early, later = batch(1), batch(4)
    np.testing.assert_array_equal(later[0], later_first[0])
    np.testing.assert_array_equal(later[1], later_first[1])
    assert not np.array_equal(early[0], later[0])
    other_epoch = prepare_batch(model, images, labels.astype(np.int64), order, config, 2, 4)
    assert not np.array_equal(other_epoch[0], later[0])  # same images, fresh augmentation


def test_an_error_while_preparing_a_batch_reaches_the_training_loop_and_stops_the_thread(monkeypatch):
    from mnist_core.training import pipeline
    images, labels = synthetic_digits(300, seed=2)
    calls = []

    def failing_augment(xp, x, plan, workspace=None, out=None):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("augmentation broke on batch 3")
        out[...] = x
        return out

    monkeypatch.setattr(pipeline, "apply_augmentation", failing_augment)
    with pytest.raises(ValueError, match="augmentation broke on batch 3"):
        train(init_model("mnist-fc"), images, labels, TrainConfig(epochs=2, batch_size=50))
    assert not batch_threads()


def test_stopping_early_stops_the_thread_and_resuming_gives_the_uninterrupted_model():
    images, labels = synthetic_digits(300, seed=4)
    config = TrainConfig(epochs=3, batch_size=40, learning_rate=0.005, seed=4, **HEAVY)
    straight = init_model("mnist-fc", seed=4)
    train(straight, images, labels, config)

    interrupted, state = init_model("mnist-fc", seed=4), {}

    def stop(stats, optimizer):
        state["optimizer"] = optimizer
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, images, labels, config, on_epoch_end=stop)
    assert not batch_threads()
    train(interrupted, images, labels, config, start_epoch=1, optimizer=state["optimizer"])
    for name, value in straight.params.items():
        np.testing.assert_array_equal(interrupted.params[name], value)


def test_a_step_by_step_training_run_makes_the_same_steps_as_train():
    """The page advances a TrainingRun a few steps at a time; train() an epoch at a time."""
    images, labels = synthetic_digits(300, seed=6)
    config = TrainConfig(epochs=2, batch_size=50, learning_rate=0.005, seed=8, **HEAVY)
    whole, stepped = init_model("mnist-fc", seed=8), init_model("mnist-fc", seed=8)
    train(whole, images, labels, config)
    run = TrainingRun(stepped, images, labels, config)
    while not run.done:
        run.advance(4)
    for name, value in whole.params.items():
        np.testing.assert_array_equal(stepped.params[name], value)


def test_step_times_account_for_every_step_and_phase():
    images, labels = synthetic_digits(300, seed=2)
    for prefetch in (True, False):
        times = StepTimes()
        train(init_model("mnist-fc"), images, labels, TrainConfig(epochs=2, batch_size=50, **HEAVY), times=times,
              prefetch=prefetch)
        assert times.steps == 2 * 6   # 285 training images in batches of 50
        per_step = times.per_step()
        assert all(per_step[phase] > 0 for phase in ("forward", "backward", "optimizer", "preparation"))
        assert per_step["waiting"] >= 0


@pytest.mark.parametrize("prefetch", [True, False])
def test_a_batch_source_gives_each_step_s_batch_in_order_and_refuses_to_run_past_its_plan(prefetch):
    made = []

    def prepare(step):
        made.append(step)
        return step

    source = batch_source(prepare, range(3, 6), prefetch=prefetch)
    assert bool(batch_threads()) == prefetch
    assert [source.next_batch() for _ in range(3)] == [3, 4, 5]
    with pytest.raises(IndexError):
        source.next_batch()
    source.close()
    assert made == [3, 4, 5] and not batch_threads()


@pytest.mark.parametrize("size", [7, 50])
def test_a_batch_prepared_in_slices_on_a_pool_equals_the_batch_prepared_whole(size, monkeypatch):
    from mnist_core.models import model_class
    images, labels = synthetic_digits(300, seed=5)
    config = TrainConfig(batch_size=100, seed=2, **HEAVY)
    order = epoch_order(config.seed, 0, len(labels))
    model = init_model("mnist-cnn")
    monkeypatch.setattr(model_class("mnist-cnn"), "training_slice", None)
    whole, _ = prepare_batch(model, images, labels.astype(np.int64), order, config, 0, 1)
    monkeypatch.setattr(model_class("mnist-cnn"), "training_slice", size)
    workspace = Workspace(np)
    with StepPool(2) as pool:
        for _ in range(2):   # the second time, each slice's scratch arrays hold the first time's values
            sliced, _ = prepare_batch(model, images, labels.astype(np.int64), order, config, 0, 1, workspace, pool)
            np.testing.assert_array_equal(sliced, whole)


def test_a_run_closes_its_threads_whether_it_ends_or_is_left_early():
    images, labels = synthetic_digits(200, seed=1)
    with TrainingRun(init_model("mnist-fc"), images, labels, TrainConfig(epochs=3, batch_size=20)) as run:
        run.advance(2)
        assert batch_threads()
    assert not batch_threads() and not [t for t in threading.enumerate() if t.name.startswith("mnist-core-step")]
