"""Sample quality: the Parzen protocol's numbers, the Fréchet distance, the classifier, a workdir's
evaluation end to end."""

import json
import math
import os

import numpy as np
import pytest
from conftest import copy_run, rendered_digits, run_cli
from scipy.stats import multivariate_normal

from common import errors, input_pipeline
from common.evaluation import classifier, sample_quality
from common.evaluation.sample_quality import parzen_log_likelihood
from common.train import run_files


def test_one_sample_is_the_gaussian_density():
    rng = np.random.default_rng(0)
    sample, images = rng.uniform(size=(1, 784)), rng.uniform(size=(5, 784))
    sigma = 0.3
    expected = multivariate_normal(sample[0], sigma**2 * np.eye(784)).logpdf(images)
    np.testing.assert_allclose(parzen_log_likelihood(sample, images, sigma), expected, rtol=1e-5)


def test_many_samples_is_the_mean_of_their_densities():
    rng = np.random.default_rng(1)
    samples, images, sigma = rng.uniform(size=(7, 20)), rng.uniform(size=(3, 20)), 0.5
    densities = [multivariate_normal(s, sigma**2 * np.eye(20)).pdf(images) for s in samples]
    expected = np.log(np.mean(densities, axis=0))
    np.testing.assert_allclose(parzen_log_likelihood(samples, images, sigma), expected, rtol=1e-5)


def test_scaling_everything_shifts_by_minus_d_log_a():
    rng = np.random.default_rng(2)
    samples, images = rng.uniform(size=(50, 784)), rng.uniform(size=(250, 784))  # 3 batches
    a, sigma = 0.5, 0.2
    shift = parzen_log_likelihood(a * samples, a * images, a * sigma) - parzen_log_likelihood(
        samples, images, sigma
    )
    np.testing.assert_allclose(shift, -784 * math.log(a), rtol=1e-4)


def test_sigma_is_the_argmax_of_the_grid_on_the_selection_images():
    rng = np.random.default_rng(3)
    samples = rng.uniform(size=(40, 30))
    images = samples[:10] + rng.normal(0, 0.25, (10, 30))  # near the centres: a middle width wins
    sigma, means = sample_quality.choose_sigma(samples, images)
    by_hand = [parzen_log_likelihood(samples, images, s).mean() for s in sample_quality.SIGMAS]
    np.testing.assert_allclose(means, by_hand, rtol=1e-5)
    assert sigma == sample_quality.SIGMAS[int(np.argmax(by_hand))]
    assert sample_quality.SIGMAS[0] < sigma < sample_quality.SIGMAS[-1]


def test_standard_error_is_std_over_sqrt_n():
    values = np.array([1.0, 2.0, 4.0, 7.0])
    mean, se = sample_quality.mean_and_se(values)
    assert mean == 3.5
    assert se == pytest.approx(np.sqrt(np.mean((values - 3.5) ** 2)) / 2)  # ddof 0, sqrt(4)


def test_frechet_distance_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(4).normal(size=(500, 16))
    assert abs(sample_quality.frechet_distance(feats, feats)) < 1e-6


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    # Diagonal covariances: tr(C1 + C2 - 2 sqrt(C1 C2)) = sum (s1 - s2)^2 over the std devs.
    rng = np.random.default_rng(5)
    n, mu, std_a, std_b = 200_000, np.array([1.0, -2.0, 0.5]), np.array([1, 2, 0.5]), 1.5
    a = rng.normal(size=(n, 3)) * std_a
    b = mu + rng.normal(size=(n, 3)) * std_b
    expected = np.sum(mu**2) + np.sum((std_a - std_b) ** 2)
    assert sample_quality.frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_class_statistics_by_hand():
    probs = np.full((4, 10), 0.01)
    probs[[0, 1, 2, 3], [0, 0, 1, 2]] = 0.91  # classes 0, 0, 1, 2
    stats = sample_quality.class_statistics(probs)
    shares = np.array([0.5, 0.25, 0.25])
    assert stats["coverage"] == pytest.approx(-np.sum(shares * np.log(shares)) / np.log(10))
    assert stats["rarest_share"] == 0.0
    assert stats["recognisability"] == pytest.approx(0.91)
    assert stats["class_shares"][:3] == [0.5, 0.25, 0.25]


def test_the_classifier_learns_rendered_digits():
    images, labels = rendered_digits(1200, seed=7)
    params = classifier.train(images[:1000, ..., None], labels[:1000], jax_key(0), steps=300)
    assert classifier.accuracy(params, images[1000:, ..., None], labels[1000:]) > 0.9


def jax_key(seed):
    import jax

    return jax.random.key(seed)


def test_the_classifier_is_cached_by_the_data_files(rendered_dir, tmp_path):
    import ml_collections

    config = ml_collections.ConfigDict({"dir": rendered_dir, "name": "mnist", "split_seed": 0})
    config.limit = 0
    data = input_pipeline.load_dataset(config)
    first = classifier.load_or_train(config, data, str(tmp_path), steps=20)
    again = classifier.load_or_train(config, data, str(tmp_path), steps=20)
    assert again.accuracy == first.accuracy and again.fingerprint == first.fingerprint
    assert os.listdir(tmp_path) == [first.fingerprint]  # no temporary folder left
    config.split_seed = 1  # another split: another classifier
    assert classifier.fingerprint(config) != first.fingerprint.split("-")[0]


def test_a_dataset_without_labels_is_one_line(tmp_path):
    from conftest import write_idx

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    images, _ = rendered_digits(40, seed=0)
    write_idx(str(folder / "t10k-images-idx3-ubyte.gz"), images)
    import ml_collections

    config = ml_collections.ConfigDict(
        {"dir": str(folder), "name": "mnist", "split_seed": 0, "limit": 0}
    )
    data = input_pipeline.load_dataset(config)
    with pytest.raises(errors.DataError, match="no label files"):
        classifier.load_or_train(config, data, str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("kind", ["vae", "aae"])
def test_a_tiny_workdir_gets_finite_numbers(kind, vae_run, aae_run, tmp_path):

    workdir = copy_run({"vae": vae_run, "aae": aae_run}[kind], tmp_path / "run")
    cache = str(tmp_path / "cache")
    evaluate = sample_quality.evaluate_workdir
    result = evaluate(workdir, num_samples=30, classifier_dir=cache)
    evaluate(workdir, epoch=0, num_samples=30, classifier_dir=cache)
    with open(os.path.join(workdir, run_files.SAMPLE_QUALITY)) as f:
        stored = json.load(f)
    assert list(stored) == ["0", str(result["epoch"])]  # the second epoch added, in order
    assert stored[str(result["epoch"])] == json.loads(json.dumps(result))
    expected = {"vae": {"samples", "samples_mean"}, "aae": {"samples"}}[kind]
    assert set(result["variants"]) == expected
    for numbers in [*result["variants"].values(), result["real"]]:
        values = [v for k, v in numbers.items() if isinstance(v, float)]
        assert values and all(np.isfinite(values))
    assert result["variants"][result["main"]]["sigma"] in sample_quality.SIGMAS
    print(sample_quality.format_table(result))


def test_bad_arguments_are_one_line(vae_run, tmp_path):

    workdir = copy_run(vae_run, tmp_path / "run")
    cache = str(tmp_path / "cache")
    evaluate = sample_quality.evaluate_workdir
    with pytest.raises(errors.CheckpointError, match="epoch 7"):
        evaluate(workdir, epoch=7, classifier_dir=cache)
    with pytest.raises(errors.CheckpointError, match="holds no run"):
        evaluate(str(tmp_path / "nothing"), classifier_dir=cache)
    # The script: one line, exit 1, nothing written.
    args = [f"--workdir={workdir}", "--num_samples=1", f"--classifier_dir={cache}"]
    proc = run_cli([os.sys.executable, "scripts/evaluate_samples.py", *args])
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --num_samples=1 must be >= 2")
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(os.path.join(workdir, run_files.SAMPLE_QUALITY))
    assert not os.path.exists(cache)
