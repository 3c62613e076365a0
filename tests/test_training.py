"""Training: a short real run that must learn, the file it writes, resuming, AdamW and augmentation."""

import re
import subprocess
import sys

import numpy as np
import pytest

from mnist_core.models import init_model, load_model
from mnist_core.training import AdamW, TrainConfig, random_affine, train
from mnist_core.training.augment import random_affine_params


def run(*args):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def scores(output):
    return dict(re.findall(r"main: (test_\w+)=(.*)", output))


@pytest.mark.slow
@pytest.mark.parametrize("arch,threshold", [("mnist-fc", 0.92), ("mnist-cnn", 0.90)])
def test_short_training_learns_and_the_written_file_evaluates_the_same(arch, threshold, tmp_path, mnist_test_files):
    """Two epochs on 6,000 real training images (batches of 100), then the CLI's own test result,
    then the written file through `python -m mnist_core.eval`: the same numbers."""
    out = tmp_path / f"{arch}.gguf"
    train_out = run("-m", "mnist_core.train", arch, str(out), "--limit", "6000", "--epochs", "2",
                    "--batch-size", "100", "--lr", "0.003", "--no-augment", "--seed", "1")
    assert re.search(r"epoch 2/2: train_loss=[\d.]+ train_acc=[\d.]+% val_loss=[\d.]+ val_acc=[\d.]+%", train_out)
    trained = scores(train_out)
    accuracy = float(trained["test_acc"].split("+-")[0]) / 100
    assert accuracy >= threshold, train_out
    evaluated = scores(run("-m", "mnist_core.eval", str(out), *map(str, mnist_test_files)))
    assert evaluated == trained
    model = load_model(out)
    assert model.metadata["mnist_core.training.command"] == (
        f"python -m mnist_core.train {arch} {out} --epochs 2 --batch-size 100 --lr 0.003 --seed 1 --no-augment "
        "--limit 6000")
    assert model.metadata["mnist_core.training.seed"] == 1


def synthetic_digits(n, seed=0):
    """Images whose class is which of ten 7x7 cells holds a bright square: learnable in a few
    steps, even through augmentation's shifts and rotations, and no data needed."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for digit in range(10):
        row, col = divmod(digit, 4)
        images[labels == digit, row * 7 + 1:row * 7 + 6, col * 7 + 1:col * 7 + 6] = 255
    return images, labels


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_training_learns_and_a_run_resumed_after_an_epoch_equals_the_uninterrupted_one(arch):
    images, labels = synthetic_digits(600)
    config = TrainConfig(epochs=3, batch_size=50, learning_rate=0.005, seed=4, augment=True)

    straight = init_model(arch, seed=4)
    history = train(straight, images, labels, config)
    assert len(history) == 3 and history[-1].val_accuracy > 0.9

    interrupted = init_model(arch, seed=4)
    state = {}

    def stop_after_first_epoch(stats, optimizer):
        state["optimizer"] = optimizer
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, images, labels, config, on_epoch_end=stop_after_first_epoch)
    train(interrupted, images, labels, config, start_epoch=1, optimizer=state["optimizer"])
    for name in straight.params:
        np.testing.assert_array_equal(interrupted.params[name], straight.params[name])


def test_ctrl_c_after_an_epoch_then_resume_through_the_cli_matches_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    from mnist_core import train as train_cli
    from mnist_core.formats.idx import write_idx_images, write_idx_labels
    images, labels = synthetic_digits(400, seed=2)
    write_idx_images(tmp_path / "img", images)
    write_idx_labels(tmp_path / "lab", labels)
    args = [str(tmp_path / "img"), str(tmp_path / "lab"), "--batch-size", "100", "--seed", "3", "--epochs", "2"]
    assert train_cli.main(["mnist-fc", str(tmp_path / "straight.gguf"), *args]) == 0

    real_save = train_cli.save_checkpoint

    def save_then_ctrl_c(*a, **k):
        real_save(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "save_checkpoint", save_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train_cli.main(["mnist-fc", str(tmp_path / "resumed.gguf"), *args, "--resume"])
    assert not (tmp_path / "resumed.gguf").exists() and (tmp_path / "resumed.gguf.ckpt").exists()
    monkeypatch.setattr(train_cli, "save_checkpoint", real_save)
    assert train_cli.main(["mnist-fc", str(tmp_path / "resumed.gguf"), *args, "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().out
    straight, resumed = load_model(tmp_path / "straight.gguf"), load_model(tmp_path / "resumed.gguf")
    for name in straight.params:
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])


def test_adamw_step_matches_the_textbook_update():
    p = {"w": np.array([1.0, -2.0, 3.0])}
    grads = [np.array([0.5, -1.0, 0.0]), np.array([0.1, 0.2, -0.3])]
    opt = AdamW(p, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, xp=np)
    w, m, v = p["w"].copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        opt.step(p, {"w": g})
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w * (1 - 0.01 * 0.1) - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(p["w"], w, rtol=1e-6, atol=1e-9)


def test_augmentation_identity_shift_and_rotation():
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28)).astype(np.float32)

    def params(angle=0.0, scale=1.0, dx=0.0, dy=0.0):
        return np.tile(np.float32([[angle, scale, dx, dy]]), (3, 1))

    np.testing.assert_array_equal(random_affine(np, images, params()), images)
    shifted = random_affine(np, images, params(dx=3, dy=-2))
    np.testing.assert_array_equal(shifted[:, :-2, 3:], images[:, 2:, :-3])
    assert not shifted[:, :, :3].any() and not shifted[:, -2:, :].any()  # what moved in is background
    rotated = random_affine(np, images, params(angle=np.pi / 2))
    np.testing.assert_allclose(rotated, np.rot90(images, k=-1, axes=(1, 2)), atol=1e-5)


def test_augmentation_parameters_stay_in_their_ranges():
    p = random_affine_params(np.random.default_rng(1), 10000)
    assert np.abs(np.rad2deg(p[:, 0])).max() <= 10 and np.abs(p[:, 1] - 1).max() <= 0.1
    assert np.abs(p[:, 2:]).max() <= 2


@pytest.mark.parametrize("argv,expected", [
    (["mnist-fc", "o.gguf"], dict(learning_rate=5e-3, init="he", schedule="cosine", augment=True, epochs=30,
                                  stroke_width=0.0, shear=0.0, elastic=0.0)),
    (["mnist-fc", "o.gguf", "--shear", "0.2", "--elastic", "2"], dict(shear=0.2, elastic=2.0, stroke_width=0.0)),
    (["mnist-cnn", "o.gguf"], dict(learning_rate=1e-2, init="he", schedule="cosine", augment=True)),
    (["mnist-cnn", "o.gguf", "--recipe", "ggml"],
     dict(learning_rate=1e-3, init="ggml", schedule="constant", augment=False)),
    (["mnist-fc", "o.gguf", "--recipe", "ggml", "--lr", "0.02", "--augment"],
     dict(learning_rate=0.02, init="ggml", schedule="constant", augment=True)),
])
def test_train_cli_takes_the_recipe_for_the_architecture_and_explicit_flags_win(argv, expected):
    from mnist_core.train import build_parser, config_from_args
    config = config_from_args(build_parser().parse_args(argv))
    assert {key: getattr(config, key) for key in expected} == expected


@pytest.mark.parametrize("argv", [
    ["mnist-fc", "o.gguf"],
    ["mnist-cnn", "o.gguf", "--recipe", "ggml", "--epochs", "3"],
    ["mnist-fc", "o.gguf", "imgs", "labs", "--lr", "0.0025", "--no-augment", "--seed", "7", "--limit", "600"],
    ["mnist-cnn", "out dir/m.gguf", "--batch-size", "100", "--val-split", "0.1", "--weight-decay", "0.01",
     "--init", "ggml", "--schedule", "constant", "--stroke-width", "0.5", "--shear", "0.2", "--elastic", "1.5"],
])
def test_the_stored_command_is_generated_from_the_config_and_parses_back_to_it(argv):
    """command_line(config) is what the model file stores; the CLI given that command makes the same config."""
    import shlex

    from mnist_core.train import build_parser, config_from_args
    from mnist_core.training.config import command_line
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    command = command_line(args.arch, args.out, config, args.recipe, args.images, args.labels, args.limit)
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "mnist_core.train"]
    again = build_parser().parse_args(words[3:])
    assert config_from_args(again) == config and (again.images, again.labels, again.limit) == (
        args.images, args.labels, args.limit)
    assert command_line(again.arch, again.out, config_from_args(again), again.recipe, again.images, again.labels,
                        again.limit) == command


@pytest.mark.parametrize("flag,value,message", [
    ("--shear", "11", "--shear must be in [0, 10]"), ("--epochs", "0", "--epochs must be at least 1"),
    ("--val-split", "1", "--val-split must be in [0, 1)"), ("--elastic", "nan", "--elastic must be a finite number"),
])
def test_train_cli_refuses_knobs_out_of_range_naming_the_flag(flag, value, message):
    from mnist_core.errors import MnistCoreError
    from mnist_core.train import build_parser, config_from_args
    with pytest.raises(MnistCoreError, match=re.escape(message)):
        config_from_args(build_parser().parse_args(["mnist-fc", "o.gguf", flag, value]))


def test_train_cli_refuses_a_non_positive_learning_rate():
    from mnist_core.errors import MnistCoreError
    from mnist_core.train import build_parser, config_from_args
    with pytest.raises(MnistCoreError, match="--lr must be positive"):
        config_from_args(build_parser().parse_args(["mnist-fc", "o.gguf", "--lr", "0"]))


def test_adamw_in_pieces_on_a_thread_pool_equals_one_pass():
    from mnist_core.training.engine import StepPool
    rng = np.random.default_rng(3)
    shapes = {"big": (500, 784), "odd": (300_007,), "small": (10,)}   # 3 pieces each (3 threads); whole
    start = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    grads = [{name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()} for _ in range(3)]
    alone, pooled = ({name: p.copy() for name, p in start.items()} for _ in range(2))
    one, other = AdamW(alone, 0.01, weight_decay=0.1, xp=np), AdamW(pooled, 0.01, weight_decay=0.1, xp=np)
    with StepPool(3) as pool:
        for g in grads:
            one.step(alone, g)
            other.step(pooled, g, pool=pool)
    for name in shapes:
        np.testing.assert_array_equal(pooled[name], alone[name])
        assert not np.array_equal(pooled[name], start[name])
