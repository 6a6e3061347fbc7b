"""common.report.samples: the tables and the sentences come from the stored numbers."""

import json
import os

from common.experiments import plans
from common.experiments.plans import Comparison, Experiment, PaperNumber, SampleQuality
from common.report import samples
from common.train import run_files


def numbers(parzen, se, fid, coverage=0.9, rarest=0.05, recognisability=0.95):
    return {
        "text": "decoded prior draws",
        "parzen_nats": parzen,
        "parzen_se": se,
        "sigma": 0.167,
        "fid": fid,
        "coverage": coverage,
        "rarest_share": rarest,
        "recognisability": recognisability,
    }


def result(
    epoch,
    main,
    real_fid=30.0,
    data="tfds mnist",
    official_data=None,
    num_samples=10_000,
    **variants,
):
    return {
        "official_data": official_data,
        "epoch": epoch,
        "model": "aae",
        "num_samples": num_samples,
        "seed": 0,
        "sets": {"selection": "sel", "reference": "the 10000 test images", "real": "val"},
        "data": data,
        "classifier": {"accuracy": 0.98, "split": "test", "fingerprint": "x"},
        "main": main,
        "variants": variants,
        "real": {k: v for k, v in numbers(0, 0, real_fid).items() if "parzen" not in k},
        "seconds": 3.0,
    }


def store(root, name, results):
    workdir = plans.run_dir(str(root), name)
    os.makedirs(workdir)
    with open(os.path.join(workdir, run_files.SAMPLE_QUALITY), "w") as f:
        json.dump({str(r["epoch"]): r for r in results}, f)


def spec(data="tfds mnist"):
    exps = tuple(Experiment(n, None, q, n, ()) for n, q in (("a", "Q2.5"), ("b", "Q2.6")))
    return SampleQuality(
        exps,
        over_epochs=(("Q2.5", "a"),),
        pairs=(Comparison("Q2.6", "a", "b"),),
        paper=(PaperNumber("AAE", 340, 2),),
        beside_paper=("a",),
    )


def test_the_report_says_who_is_ahead_and_by_how_much(tmp_path):
    store(
        tmp_path,
        "a",
        [
            result(0, "samples", samples=numbers(-500.0, 1.0, 900.0)),
            result(10, "samples", samples=numbers(100.0, 5.0, 300.0)),
            result(20, "samples", samples=numbers(150.0, 5.0, 200.0, coverage=0.95)),
        ],
    )
    store(tmp_path, "b", [result(20, "samples", samples=numbers(155.0, 4.0, 250.0, rarest=0.08))])
    path = samples.write_sample_report(spec(), str(tmp_path), str(tmp_path / "docs"))
    text = open(path).read()
    # Parzen 150 ± 5 against 155 ± 4: within two standard errors; FID 200 against 250.
    assert "**Q2.6** (`a` against `b`, epoch 20, numbers in that order): `a` is ahead on" in text
    assert "`a` is ahead on FID (classifier features) by 50.00 (200.00 vs 250.00)" in text
    assert "`b` is ahead on rarest class's share by 0.030 (0.050 vs 0.080)" in text
    assert "Parzen log-likelihood (150.0 vs 155.0: within two standard errors)" in text
    assert "recognisability (0.950 vs 0.950)" in text  # level
    # Over epochs: FID 900 -> 300 -> 200, 600 of the 700 between epochs 0 and 10.
    assert "FID (classifier features) 900.00 → 300.00 → 200.00" in text
    assert "comes between epochs 0 and 10 (86%)" in text
    assert "| `a` | Q2.5 | D1 | 20 | decoded prior draws | 150.0 ± 5.0 | 0.167 | 200.00 |" in text
    # Table 1: 150 ± 5 against the paper's 340 ± 2, on the paper's test images.
    assert (
        "| `a`, epoch 20, 10,000 samples | 150.0 ± 5.0 | tfds mnist: scored on the 10000 test "
        "images | missed by 190.0 |" in text
    )
    assert "The networks differ" in text


def test_other_data_gets_no_verdict_and_no_runs_no_report(tmp_path):
    assert samples.write_sample_report(spec(), str(tmp_path), str(tmp_path)) is None
    store(tmp_path, "a", [result(5, "samples", data="IDX folder x", samples=numbers(1, 1, 1))])
    path = samples.write_sample_report(spec(), str(tmp_path), str(tmp_path / "docs"))
    text = open(path).read()
    assert (
        "Scored on other images than the paper's (not the official MNIST test images): no" in text
    )
    assert (
        "| `a`, epoch 5, 10,000 samples | 1.0 ± 1.0 | IDX folder x: scored on the 10000 test"
        in text
    )
    assert "The networks differ" not in text


def test_a_folder_of_the_official_files_gets_the_verdict(tmp_path):
    # An IDX folder whose contents were checked to be the official MNIST (official_data): the
    # paper's test images. 339 ± 1 against 340 ± 2: level; 346 ± 1: better by 6.
    official = dict(data="IDX folder x", official_data="mnist")
    store(tmp_path, "a", [result(5, "samples", **official, samples=numbers(339.0, 1.0, 1))])
    path = samples.write_sample_report(spec(), str(tmp_path), str(tmp_path / "docs"))
    assert "| 339.0 ± 1.0 | IDX folder x: scored on the 10000 test images | level within two" in (
        open(path).read()
    )
    store(tmp_path / "2", "a", [result(5, "samples", **official, samples=numbers(346.0, 1.0, 1))])
    path = samples.write_sample_report(spec(), str(tmp_path / "2"), str(tmp_path / "docs2"))
    assert (
        "| 346.0 ± 1.0 | IDX folder x: scored on the 10000 test images | met, better by 6.0 |"
        in (open(path).read())
    )


def test_fewer_samples_than_the_papers_get_no_verdict(tmp_path):
    # A Parzen estimate rises with the samples it is built on: 346 ± 1 from 1,000 samples is not
    # the paper's number, on the paper's test images or not.
    official = dict(data="IDX folder x", official_data="mnist", num_samples=1_000)
    store(tmp_path, "a", [result(5, "samples", **official, samples=numbers(346.0, 1.0, 1))])
    text = open(samples.write_sample_report(spec(), str(tmp_path), str(tmp_path / "d"))).read()
    assert "| `a`, epoch 5, 1,000 samples | 346.0 ± 1.0 | IDX folder x: scored on the 10000" in text
    assert "test images |  |" in text
    assert "Scored with another number of samples a model than the paper's 10,000: no" in text
    assert "met, better" not in text
