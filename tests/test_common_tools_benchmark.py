"""The benchmarks: real epochs against the reference's, and the interleaved compiled steps."""

import json
import sys

import pytest

from common.tools import benchmark


class FakeCase:
    """A duck-typed benchmark.Case whose steps take known times: 40 ms, except one slow round."""

    model, name, batch, conv_impl, steps_per_call = "vae", "step", 128, "auto", 1

    def __init__(self):
        self.calls = 0

    def time(self, repeats):
        self.calls += 1
        return [0.5 if self.calls == 2 else 0.04] * repeats  # round 2 is an outlier

    row = benchmark.Case.row


FAKE_TORCH = """
import json, sys
args = sys.argv[1:]
print("noise before the row")
print(json.dumps({"impl": "torch", "model": args[args.index("--model") + 1],
                  "batch": int(args[args.index("--batch") + 1]),
                  "steps": int(args[args.index("--steps") + 1]), "step_ms_median": 80.0}))
"""


def test_interleaved_rounds_medians_and_ratio(tmp_path):
    script = tmp_path / "fake_torch.py"
    script.write_text(FAKE_TORCH)
    rows = []
    summary = benchmark.interleaved(
        [FakeCase()],
        rounds=3,
        steps=4,
        torch_script=str(script),
        torch_python=sys.executable,
        emit=rows.append,
    )
    ours = [r for r in rows if r.get("impl") == "jax"]
    torch = [r for r in rows if r.get("impl") == "torch"]
    assert [r["round"] for r in ours] == [0, 1, 2] and [r["round"] for r in torch] == [0, 1, 2]
    assert rows.index(ours[1]) > rows.index(torch[0])  # alternating, not one block after another
    assert torch[0]["steps"] == 4 and torch[0]["batch"] == 128
    assert ours[1]["step_ms_median"] == 500.0
    (row,) = summary
    assert row["step_ms_median"] == 40.0  # the median over rounds drops the slow round
    assert row["images_per_sec"] == 3200.0
    assert row["torch_images_per_sec"] == 1600.0
    assert row["ratio_vs_torch"] == 2.0
    assert json.dumps(rows[-1]) == json.dumps(row)


def test_a_failing_reference_shows_its_error(tmp_path):
    script = tmp_path / "broken_torch.py"
    script.write_text("import sys\nsys.exit('no module named torch')\n")
    with pytest.raises(RuntimeError, match="no module named torch"):
        benchmark.torch_speed(str(script), sys.executable, "vae", 128, steps=2, warmup=1)


FAKE_TRAIN = """
import json, sys, time
args = sys.argv[1:]
assert args[0] == "train"
for epoch in range(1, int(args[args.index("--epochs") + 1]) + 1):
    time.sleep(0.05)
    print(json.dumps({"epoch": epoch, "seconds": 0.5 if epoch == 1 else 0.2}), flush=True)
"""


# Our training script's stand-in: the log line the benchmark watches for, then the metric rows
# (epoch 1 slower: it compiles). README's benchmark command runs the real one (test_readme.py).
FAKE_OURS = """
import json, os, sys, time
flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
epochs = int(flags["config.num_epochs"])
os.makedirs(flags["workdir"], exist_ok=True)
with open(os.path.join(flags["workdir"], "metrics.jsonl"), "w") as f:
    for epoch in range(epochs + 1):
        time.sleep(0.05)
        print(f"I0000 trainer.py:1] epoch {epoch}/{epochs} ", file=sys.stderr, flush=True)
        f.write(json.dumps({"epoch": epoch, "seconds": 0.4 if epoch == 1 else 0.1}) + "\\n")
"""


def test_compare_epochs_runs_both_trainers_alternating_and_summarises(tmp_path, mnist_dir):
    script = tmp_path / "fake_torch.py"
    script.write_text(FAKE_TRAIN)
    rows = []
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "train_aae.py").write_text(FAKE_OURS)
    (summary,) = benchmark.compare_epochs(
        str(scripts),
        ["aae"],
        mnist_dir,
        rounds=2,
        epochs=2,
        torch_script=str(script),
        torch_python=sys.executable,
        emit=rows.append,
    )
    assert [(r["impl"], r["round"]) for r in rows[:4]] == [
        ("jax", 0),
        ("torch", 0),
        ("jax", 1),
        ("torch", 1),
    ]
    ours = rows[0]
    assert ours["epoch_seconds"] == [0.4, 0.1] and 0 < ours["first_epoch_done_s"] < ours["wall_s"]
    # The first epoch of each run is left out: medians of the others, and their ratio.
    assert (summary["epoch_s"], summary["torch_epoch_s"]) == (0.1, 0.2)
    assert summary["speed_ratio_vs_torch"] == 2.0


def test_the_profile_lists_every_convolution_of_the_step_and_times_one(tiny_aae_config):
    """conv_layers traces the training step: the AAE's ten convolutions in order, at the
    config's batch; a layer times to positive ms, the first layer's dx to 0 (never taken)."""
    from aae.train import AAETrainer

    trainer = AAETrainer(tiny_aae_config)  # 4 filters, batch 16
    layers = benchmark.conv_layers(trainer)
    assert [layer.path.split("/")[-1] for layer in layers] == [
        *(f"Conv_{i}" for i in range(5)),
        "ConvTranspose_0",
        "Conv_0",
        "ConvTranspose_1",
        "Conv_1",
        "ConvTranspose_2",
    ]
    assert layers[0].input_shape == (16, 28, 28, 1) and layers[0].input_is_data
    assert layers[-1].input_shape == (16, 14, 14, 4) and not layers[-1].input_is_data
    assert layers[-1].name.endswith("ConvTranspose_2 (ConvTranspose 14x14, 4 -> 1)")
    ms = benchmark.time_conv_layer(layers[-1], steps=2, rounds=1)
    assert set(ms) == {"forward", "dx", "dk"} and min(ms.values()) > 0
    assert benchmark.time_conv_layer(layers[0], steps=2, rounds=1)["dx"] == 0.0
