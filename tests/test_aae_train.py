"""AAETrainer: phases that touch only their own params, lambda in both schemes, golden values,
descent, the run's artefacts, restore."""

import copy
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import copy_run, fake_digits, initial_state

from aae import phases, train
from common import input_pipeline, priors
from common.errors import ConfigError
from common.train import checkpoint, metric_writer, run_files, validation
from common.train.run_setup import setup_run


def changed(a, b) -> dict[str, bool]:
    """Which of the three networks differ between two states."""
    return {
        k: any(
            np.any(np.asarray(u) != np.asarray(v))
            for u, v in zip(jax.tree.leaves(a.params[k]), jax.tree.leaves(b.params[k]), strict=True)
        )
        for k in a.params
    }


def batch():
    return input_pipeline.to_tanh_range(fake_digits(16, 0)[0][..., None])


@pytest.mark.parametrize("phase", sorted(phases.PHASE_NETWORKS))
def test_a_step_of_a_phase_changes_only_its_own_networks(tiny_aae_config, key, phase):
    # Every step goes through _descend; a loss that depends on every parameter shows that only
    # the phase's own networks move (the others stay bit-identical).
    tiny_aae_config.update_scheme = "combined" if phase in ("ae", "disc") else "three_phase"
    for opt in tiny_aae_config.optimizers.values():
        opt.warmup_steps = 0  # a warm-up's first step has learning rate 0: nothing would move
    trainer = train.AAETrainer(tiny_aae_config)
    state = initial_state(trainer)

    def loss_fn(params):
        loss = sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(params))
        return loss, None

    step = jax.jit(phases.step, static_argnums=(1, 2, 3))
    after, _ = step(state, phase, loss_fn, trainer.txs[phase])
    moved = {name: name in phases.PHASE_NETWORKS[phase] for name in state.params}
    assert changed(state, after) == moved


def test_the_phase_functions_move_their_own_networks(tiny_aae_config, key):
    tiny_aae_config.update_scheme = "three_phase"
    for opt in tiny_aae_config.optimizers.values():
        opt.warmup_steps = 0
    trainer = train.AAETrainer(tiny_aae_config)
    model, txs = trainer.model, trainer.txs
    state = initial_state(trainer)
    x = batch()

    @jax.jit
    def all_phases(state):  # each from the same state
        recon, _ = phases.reconstruction_phase(
            state, x, key, model=model, tx=txs["recon"], weight=0.995
        )
        gen, _ = phases.generator_phase(state, x, key, None, model=model, tx=txs["gen"], weight=0.5)
        z = model.apply({"params": state.params}, x, method="encode")
        z_real = trainer.prior.sample(key, len(z))
        disc, _ = phases.discriminator_phase(state, z_real, z, None, model=model, tx=txs["disc"])
        return recon, gen, disc

    after_recon, after_gen, after_disc = all_phases(state)
    assert changed(state, after_recon) == {"encoder": True, "decoder": True, "discriminator": False}
    assert changed(state, after_gen) == {"encoder": True, "decoder": False, "discriminator": False}
    assert changed(state, after_disc) == {"encoder": False, "decoder": False, "discriminator": True}


def test_three_phase_lambda_weighs_the_phases_updates(tiny_aae_config, key):
    # Each phase has its own Adam, which a scaled loss would not change: lambda scales the
    # updates, so two lambdas give two models, and lambda 1 leaves the generator step out.
    tiny_aae_config.update_scheme = "three_phase"
    for opt in tiny_aae_config.optimizers.values():
        opt.warmup_steps = 0  # (see above)
    states = {}
    for lambda_ in (0.5, 0.9, 1.0):
        tiny_aae_config.lambda_ = lambda_
        trainer = train.AAETrainer(tiny_aae_config)
        state = jax.jit(trainer.create_train_state)(key)
        states[lambda_], _ = jax.jit(trainer.train_step)(state, batch(), key)
    start = jax.jit(train.AAETrainer(tiny_aae_config).create_train_state)(key)
    delta = {
        lam: jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), s.params, start.params)
        for lam, s in states.items()
    }
    # The decoder only moves in the reconstruction step: its update is exactly lambda * Adam's.
    for a, b in zip(
        jax.tree.leaves(delta[0.5]["decoder"]), jax.tree.leaves(delta[0.9]["decoder"]), strict=True
    ):
        np.testing.assert_allclose(a / 0.5, b / 0.9, rtol=1e-4, atol=1e-7)
    assert changed(states[0.5], states[0.9])["encoder"]
    # With lambda 1 the generator's step is zero: the encoder moves as in reconstruction only.
    recon_only, _ = jax.jit(
        lambda state: phases.reconstruction_phase(
            state,
            batch(),
            jax.random.split(key, 3)[0],
            model=trainer.model,
            tx=trainer.txs["recon"],
            weight=1.0,
        )
    )(start)
    for a, b in zip(
        jax.tree.leaves(states[1.0].params["encoder"]),
        jax.tree.leaves(recon_only.params["encoder"]),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("lambda_", 1.5, r"lambda_=1.5 must be in \[0, 1\]"),
        ("update_scheme", "two_phase", "update_scheme='two_phase' must be one of combined"),
        ("prior.name", "cauchy", "config.prior.name='cauchy' must be one of gaussian, mixture"),
        ("prior.labelled_share", 0.0, r"config.prior.labelled_share=0.0 must be in \(0, 1\]"),
    ],
)
def test_bad_values_are_config_errors_before_anything_is_written(
    tiny_aae_config, tmp_path, field, value, message
):
    tiny_aae_config.update_from_flattened_dict({field: value})
    with pytest.raises(ConfigError, match=message) as error:
        train.train_and_evaluate(tiny_aae_config, str(tmp_path / "run"))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_a_2d_prior_with_8_latent_dimensions_is_a_config_error(tiny_aae_config, tmp_path):
    tiny_aae_config.update(z_dim=8, prior=priors.prior_config("mixture"))
    message = "config.prior.name='mixture' is a 2-D prior, but config.z_dim=8"
    with pytest.raises(ConfigError, match=message):
        train.train_and_evaluate(tiny_aae_config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


# Metrics of steps 1, 2 and 5 at seed 0 on the fixed batch ("combined", lambda 0.995, the
# encoder + decoder's warm-up: step 1 has learning rate 0, so step 2's reconstruction equals
# step 1's; the discriminator's SGD moves from step 1), as this code computed them (jax 0.10.2,
# CPU).
GOLDEN = {
    1: {"recon_loss": 0.598404, "gen_loss": 0.7453405, "disc_loss": 1.384508},
    2: {"recon_loss": 0.598404, "gen_loss": 0.7451424, "disc_loss": 1.369131},
    5: {"recon_loss": 0.5982723, "gen_loss": 0.746076, "disc_loss": 1.363742},
}


def steps(config, num, key):
    trainer = train.AAETrainer(config)
    state = jax.jit(trainer.create_train_state)(key)
    step = jax.jit(trainer.train_step)
    out = []
    for i in range(num):
        state, metrics = step(state, batch(), jax.random.fold_in(key, i))
        out.append({k: float(v) for k, v in metrics.compute().items()})
    return state, out


def test_golden_values_of_the_first_steps(tiny_aae_config):
    _, metrics = steps(tiny_aae_config, 5, jax.random.key(0))
    for step, want in GOLDEN.items():
        for name, value in want.items():
            got = metrics[step - 1][name]
            assert got == pytest.approx(value, rel=1e-4), (step, name, got, value)


def test_steps_on_one_batch_lower_the_reconstruction_loss(tiny_aae_config, key):
    tiny_aae_config.optimizers.ae.warmup_steps = 5
    state, metrics = steps(tiny_aae_config, 10, key)
    recon = [m["recon_loss"] for m in metrics]
    assert recon[-1] < 0.97 * recon[0], recon
    assert int(state.step) == 10


def test_run_writes_every_artefact(aae_run):
    config, workdir, final = aae_run
    for name in (
        "config.json",
        "metrics.jsonl",
        "loss_curve.png",
        "latent_scatter.png",
        "interpolation.png",
        "samples/epoch_0.png",
        "samples/epoch_2.png",
        "reconstructions/epoch_0.png",
        "reconstructions/epoch_2.png",
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    rows = metric_writer.read_metrics(workdir)
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]
    keys = {f"train_{k}" for k in ("recon_loss", "gen_loss", "ae_loss", "disc_loss")}
    keys |= {"epoch", "train_disc_accuracy", "val_recon_loss", "seconds"}
    assert keys <= set(rows[1]) and keys <= set(rows[2])
    assert "val_recon_loss" in rows[0] and "train_recon_loss" not in rows[0]  # untrained: no steps
    assert 0.0 <= rows[2]["train_disc_accuracy"] <= 1.0
    assert rows[-1] == final and np.isfinite(final["test_recon_loss"])
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert set(manager.all_steps()) >= {0, 1, 2}


def test_restore_an_aae_checkpoint(aae_run):
    trainer, state, epoch = train.AAETrainer.restore(aae_run.workdir, 1)
    assert (trainer.kind, epoch) == ("aae", 1)
    grid = trainer.sample_grids(state.params, jax.random.key(0), 4)["samples"]
    assert grid.shape == (4, 28, 28, 1) and float(grid.min()) >= 0 and float(grid.max()) <= 1


@pytest.mark.slow  # 20 full-size epochs: README's second test command runs it
def test_the_warm_up_keeps_the_plain_autoencoder_from_collapsing(rendered_dir):
    # On MNIST-like digits the course template's autoencoder (lambda 1, Adam lr 1e-3, b1 0.5, no
    # warm-up) collapses at seed 42 within its first steps: the validation MSE sticks at the
    # error of one mean image. The default warm-up (configs/aae.py) trains the same seed.
    from configs import ae_z8

    val = {}
    for warmup in (0, ae_z8.get_config().optimizers.ae.warmup_steps):
        config = ae_z8.get_config()
        config.update(seed=42, eval_batch_size=110)
        config.data.dir = rendered_dir
        config.optimizers.ae.warmup_steps = warmup
        trainer = train.AAETrainer(config)
        data = input_pipeline.load_dataset(config.data)
        run = setup_run(config, len(data.train_images))
        state = jax.jit(trainer.create_train_state)(run.keys.init)
        epoch_fn = jax.jit(trainer.train_epoch)
        evaluate = trainer.evaluator(data.val_images, run)
        images, val[warmup] = jax.device_put(data.train_images), []
        for epoch in range(1, 11):  # 15 steps each
            state, _ = epoch_fn(state, images, epoch, run)
            val[warmup].append(evaluate(state.params)["recon_loss"])
    collapsed, trained = val[0], val[100]
    assert collapsed[-1] == pytest.approx(collapsed[2], rel=1e-3), collapsed  # stuck
    assert trained[-1] < 0.5 * collapsed[-1] and trained[-1] < trained[2], (collapsed, trained)


@pytest.mark.slow  # 2 x 30 short epochs: README's second test command runs it
def test_label_guided_codes_land_in_their_own_component(rendered_dir):
    # The paper's section 2.3 on the tests' rendered digits: with each image's label shown to
    # the discriminator (and the label's real codes drawn from its own component), most
    # validation codes land in their own label's component; the same run without labels puts
    # the digits in components with no relation to their labels. Every image keeps its label (as
    # in configs/aae_z2_mixture_all_labels.py); the combined scheme at lambda 0.5, no warm-up
    # and an Adam discriminator get there in ~900 steps of this small model.
    from configs import aae_z2_mixture_all_labels as aae_z2_mixture_labels

    own = {}
    for labels_on in (True, False):
        config = aae_z2_mixture_labels.get_config()
        config.update(num_filters=16, disc_hidden=64, batch_size=32, seed=0)
        config.update(update_scheme="combined", lambda_=0.5)
        config.optimizers.ae.warmup_steps = 0
        config.optimizers.disc.update(name="adam", learning_rate=1e-3, b1=0.5)
        config.prior.labels = labels_on
        config.data.dir = rendered_dir
        trainer = train.AAETrainer(config)
        data = input_pipeline.load_dataset(config.data)
        run = setup_run(config, len(data.train_images))
        labels = trainer.train_labels(data, run.keys)
        assert (labels is not None) == labels_on
        state = jax.jit(trainer.create_train_state)(run.keys.init)
        epoch_fn = jax.jit(trainer.train_epoch)
        images = jax.device_put(data.train_images)
        for epoch in range(1, 31):  # 30 steps each
            state, _ = epoch_fn(state, images, epoch, run, labels)
        statistics = validation.Validation(
            trainer.example_metrics_and_codes,
            data.val_images,
            data.val_labels,
            trainer.prior,
            config.eval_batch_size,
            run.keys.eval,
            run.mesh,
            num_codes=len(data.val_images),
        )
        own[labels_on] = statistics(state.params, 0)["code_own_region"]
    assert own[True] > 0.5 > own[False], own  # chance: 0.1


def test_a_label_guided_run_measures_its_codes_against_its_own_prior(tiny_aae_config, tmp_path):
    tiny_aae_config.prior = priors.prior_config("mixture", labels=True)
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(tiny_aae_config, workdir)
    rows = [r for r in metric_writer.read_metrics(workdir) if "epoch" in r]
    for row in rows:
        assert 0.0 <= row["val_code_own_region"] <= 1.0 and np.isfinite(row["val_code_mmd"])
        # N(0, I)'s moments mean nothing for a mixture: they are not written.
        assert "val_code_mean_norm" not in row and "val_code_cov_dist" not in row
    for name in (run_files.samples(0, run_files.BY_REGION), run_files.LATENT_SCATTER):
        assert os.path.exists(os.path.join(workdir, name)), name


def test_the_labelled_images_are_a_function_of_the_seed(tiny_aae_config):
    tiny_aae_config.prior = priors.prior_config("swiss_roll", labels=True)
    data = input_pipeline.load_dataset(tiny_aae_config.data)

    def labels_of(seed):
        tiny_aae_config.seed = seed
        trainer = train.AAETrainer(tiny_aae_config)
        return trainer.train_labels(data, setup_run(tiny_aae_config, 180).keys)

    labels = labels_of(42)
    kept = labels != priors.NO_LABEL
    assert labels.dtype == np.int32 and kept.sum() == round(0.2 * 180)  # labelled_share
    np.testing.assert_array_equal(labels[kept], data.train_labels[kept])
    np.testing.assert_array_equal(labels_of(42), labels)  # every epoch, every session
    assert np.any(labels_of(7) != labels)  # another seed, other images


def test_a_run_written_before_priors_resumes_unchanged_with_the_gaussian(aae_run, tmp_path):
    # config.json of a run written before priors were configurable has no `prior`: it resumes
    # as N(0, I), bit for bit as the same run whose config names the Gaussian.
    finals = {}
    for name in ("named", "older"):
        workdir = copy_run(aae_run, tmp_path / name)
        if name == "older":
            path = os.path.join(workdir, "config.json")
            with open(path) as f:
                saved = json.load(f)
            del saved["prior"]
            with open(path, "w") as f:
                json.dump(saved, f)
        config = copy.deepcopy(aae_run.config)  # (the session's runs are shared: left as is)
        config.num_epochs = 3
        finals[name] = train.train_and_evaluate(config, workdir)
        trainer, state, epoch = train.AAETrainer.restore(workdir)
        assert epoch == 3 and trainer.prior.name == "gaussian"
        finals[name] = (metric_writer.read_metrics(workdir), jax.device_get(state.params))
    (rows_a, params_a), (rows_b, params_b) = finals["named"], finals["older"]
    strip = lambda rows: [  # noqa: E731 (times differ from run to run)
        {k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows
    ]
    assert strip(rows_a) == strip(rows_b)
    jax.tree.map(np.testing.assert_array_equal, params_a, params_b)


def test_resuming_with_another_prior_is_refused(aae_run, tmp_path):
    workdir = copy_run(aae_run, tmp_path / "run")
    config = copy.deepcopy(aae_run.config)
    config.update(num_epochs=3, prior=priors.prior_config("mixture"))
    with pytest.raises(ConfigError, match="prior.name='gaussian', but this config has"):
        train.train_and_evaluate(config, workdir)


@pytest.mark.parametrize("shift, low, high", [(0, 0.97, 1.0), (1, 0.0, 0.05)])
def test_the_validation_scores_codes_against_the_label_guided_prior(shift, low, high):
    # Codes drawn from each label's own component (image i's code is row i of a table, its
    # index in its pixels): nearly every one in its own region and the mixture's MMD near 0;
    # with every label shifted by one, nearly none in its own region.
    from common import parallel

    prior = priors.Mixture()
    labels = np.arange(200) % 10
    table = prior.sample_for_labels(jax.random.key(0), jnp.asarray(labels))
    images = np.broadcast_to(np.arange(200, dtype=np.uint8)[:, None, None, None], (200, 28, 28, 1))

    def example_fn(params, batch, key):
        del params, key
        return {"zero": jnp.zeros(len(batch))}, table[batch[:, 0, 0, 0].astype(jnp.int32)]

    mesh = parallel.make_mesh()
    check = validation.Validation(
        example_fn, images, (labels + shift) % 10, prior, 64, jax.random.key(1), mesh, 200
    )
    out = check({}, 1)
    assert low <= out["code_own_region"] <= high, out
    assert out["code_mmd"] < 0.01 and "code_mean_norm" not in out, out
