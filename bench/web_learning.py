"""bench_web.py's rows for learning in the page, for each model, each in a fresh browser context:

  correction -> corrected prediction   click on a #correct button until the page shows the prediction of
                                       the fine-tuned model (the page's own clock, learning.js), over one
                                       person's drawings of each digit (tests/handwriting.py), the one
                                       the shipped model misreads first
  one training step, one epoch         #train from scratch on all 60,000 training images with the page's
                                       recipe (2 epochs, batches of 100): the first epoch's time, that over
                                       its steps, and when the validation accuracy first reached 97 %;
                                       stopped after the first epoch

Targets: a corrected prediction within 1 s; 97 % validation accuracy within 2 min (FC), 4 min (CNN).
"""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # handwriting: the drawings

from handwriting import STYLES, misread_styles  # noqa: E402
from mnist_core.models import load_model  # noqa: E402
from web_support import ARCHS, draw_strokes, site_model_path, wait_until_ready  # noqa: E402

TARGETS_S = {"correction": 1.0, "mnist-fc": 120.0, "mnist-cnn": 240.0}


def _ready_page(browser, origin, arch):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{origin}/index.html")
    wait_until_ready(page, timeout_ms=120_000)
    page.wait_for_selector('#app[data-training="ready"]', timeout=120_000)
    if page.get_attribute("#app", "data-model") != arch:
        page.select_option("#model", arch)
        page.wait_for_selector(f'#app[data-model="{arch}"]')
    return context, page


def time_corrections(browser, origin, site, arch):
    """ms from the click to the corrected prediction shown, for each digit's drawing; [misread digits' ms]."""
    # The digits whose own style (STYLES, not the extra candidates) the shipped model misreads, timed first.
    misread = [digit for digit, strokes in misread_styles(load_model(site_model_path(arch, site)), seeds=(0,))
               if STYLES.get(digit) is strokes]
    order = misread + [digit for digit in STYLES if digit not in misread]
    context, page = _ready_page(browser, origin, arch)
    times, right = [], 0
    for digit in order:
        draw_strokes(page, STYLES[digit])
        count = int(page.get_attribute("#learned", "data-count"))
        page.click(f'#correct button[data-digit="{digit}"]')
        page.wait_for_function(f"document.querySelector('#learned').dataset.count === '{count + 1}'", timeout=120_000)
        times.append(float(page.get_attribute("#learned", "data-ms")))
        right += int(page.get_attribute("#prediction", "data-digit")) == digit
        page.wait_for_function("document.querySelector('#learned').dataset.settled === 'true'", timeout=300_000)
    context.close()
    return times, times[:len(misread)], right


def time_training(browser, origin, arch):
    """{"epoch_s", "steps", "step_ms", "reached97_s" (None if not within the first epoch)} of training from scratch."""
    context, page = _ready_page(browser, origin, arch)
    page.select_option("#train-arch", arch)
    page.fill("#train-epochs", "2")
    page.select_option("#train-images", "all")
    page.click("#train")
    status = "document.querySelector('#train-status').dataset"
    page.wait_for_function(f"{status}.firstEpochSeconds !== undefined || {status}.state === 'failed'",
                           timeout=1_800_000)
    epoch_s = float(page.get_attribute("#train-status", "data-first-epoch-seconds"))
    steps = int(page.get_attribute("#train-status", "data-step"))
    reached = page.get_attribute("#train-status", "data-reached97")
    page.click("#train-stop")
    page.wait_for_function(f"{status}.state === 'stopped' || {status}.state === 'done'", timeout=120_000)
    context.close()
    return {"epoch_s": epoch_s, "steps": steps, "step_ms": 1000 * epoch_s / steps,
            "reached97_s": float(reached) if reached else None}


def report_learning(browser, origin, site, train=True):
    """Print the rows for both models."""
    for arch in ARCHS:
        times, misread, right = time_corrections(browser, origin, site, arch)
        target_ms = 1000 * TARGETS_S["correction"]
        print(f"{arch} correction -> corrected prediction (page clock): median {statistics.median(times):.0f} ms, "
              f"max {max(times):.0f} ms over {len(times)} drawings ({right} read right after their correction); "
              f"misread ones: {', '.join(f'{ms:.0f}' for ms in misread) or 'none'} ms; target <= "
              f"{target_ms:.0f} ms: {'meets' if max(times) <= target_ms else 'MISSES'}")
        if not train:
            continue
        result = time_training(browser, origin, arch)
        reached = result["reached97_s"]
        print(f"{arch} training in the page (batches of 100, all 57,000 training images): one step "
              f"{result['step_ms']:.0f} ms (the first epoch's time over its {result['steps']} steps, validation "
              f"included), one epoch {result['epoch_s']:.1f} s; 97 % validation accuracy after "
              + (f"{reached:.1f} s" if reached is not None else "more than the first epoch")
              + f"; target <= {TARGETS_S[arch]:.0f} s: "
              + ("meets" if reached is not None and reached <= TARGETS_S[arch] else "MISSES"))
