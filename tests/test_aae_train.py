"""The AAE: shapes, loss values, phases that touch only their own params, a tiny run."""

import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_tiny_aae_config

from aae import losses, models, train
from common import checkpoint

LOG2 = -math.log(0.5)


@pytest.fixture(scope="module")
def model_and_params():
    model = models.AdversarialAE(z_dim=8)
    x = jnp.zeros((1, 28, 28, 1))
    params = model.init(jax.random.key(0), x, method=models.AdversarialAE.initialize)["params"]
    return model, params


def test_parameter_count_matches_the_pytorch_reference(model_and_params):
    _, params = model_and_params
    assert sum(p.size for p in jax.tree.leaves(params)) == 488_970


def test_shapes_and_decoder_range(model_and_params, key):
    model, params = model_and_params
    x = jax.random.uniform(key, (3, 28, 28, 1), minval=-1, maxval=1)
    recon, z = model.apply({"params": params}, x)
    assert z.shape == (3, 8) and recon.shape == (3, 28, 28, 1)
    logits = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
    assert logits.shape == (3, 1)
    far = model.apply(
        {"params": params}, jax.random.normal(key, (16, 8)) * 50, method=models.AdversarialAE.decode
    )
    assert float(jnp.min(far)) >= -1.0 and float(jnp.max(far)) <= 1.0


def _ae_loss(model, params, x, lambda_):
    recon_x, z = model.apply({"params": params}, x)
    d_fake = model.apply({"params": params}, z, method=models.AdversarialAE.discriminate)
    return losses.autoencoder_loss(x, recon_x, d_fake, lambda_)[0]


def test_loss_values_with_zero_parameters(model_and_params):
    model, params = model_and_params
    zeros = jax.tree.map(jnp.zeros_like, params)
    x = jnp.zeros((4, 28, 28, 1))
    assert float(_ae_loss(model, zeros, x, 0.0)) == pytest.approx(LOG2, abs=1e-4)
    assert float(_ae_loss(model, zeros, x, 1.0)) == 0.0
    d = jnp.zeros((4, 1))
    disc_loss, aux = losses.discriminator_loss(d, d)
    assert float(aux["loss_real"]) == pytest.approx(LOG2, abs=1e-4)
    assert float(disc_loss) == pytest.approx(2 * LOG2, abs=1e-4)


def test_gradients_reach_the_right_networks(model_and_params, key):
    # With every parameter zero, the discriminator's zero weights block all gradient to z, so
    # the gradient checks use the random initialisation.
    model, params = model_and_params
    x = jax.random.uniform(key, (4, 28, 28, 1), minval=-1, maxval=1)
    grads = jax.grad(lambda p: _ae_loss(model, p, x, 0.0))(params)
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["encoder"]))
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads["decoder"]))

    def disc_loss(p):
        z = jax.random.normal(key, (4, 8))
        d = model.apply(
            {"params": p}, jnp.concatenate([z, z + 3]), method=models.AdversarialAE.discriminate
        )
        return losses.discriminator_loss(d[:4], d[4:])[0]

    grads = jax.grad(disc_loss)(params)
    assert all(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["discriminator"]))


def test_discriminator_accuracy():
    real, fake = jnp.array([[1.0], [-1.0]]), jnp.array([[-2.0], [-3.0]])
    assert float(losses.discriminator_loss(real, fake)[1]["accuracy"]) == 0.75


@pytest.mark.parametrize("scheme", ["combined", "three_phase"])
def test_each_phase_changes_only_its_own_params(tiny_aae_config, key, scheme):
    tiny_aae_config.update_scheme = scheme
    model = train.make_model(tiny_aae_config)
    txs = train.make_optimizers(tiny_aae_config)
    state = train.create_train_state(tiny_aae_config, key)
    x = jax.random.uniform(key, (16, 28, 28, 1), minval=-1, maxval=1)
    first = "ae" if scheme == "combined" else "recon"
    after_ae, _, z = train.autoencoder_phase(
        state, x, key, model=model, tx=txs[first], lambda_=0.995, phase=first
    )
    after_disc, _ = train.discriminator_phase(state, z, key, model=model, tx=txs["disc"])
    changed = lambda a, b: {  # noqa: E731
        k: any(
            np.any(np.asarray(u) != np.asarray(v))
            for u, v in zip(jax.tree.leaves(a.params[k]), jax.tree.leaves(b.params[k]), strict=True)
        )
        for k in a.params
    }
    assert changed(state, after_ae) == {"encoder": True, "decoder": True, "discriminator": False}
    assert changed(state, after_disc) == {"encoder": False, "decoder": False, "discriminator": True}
    if scheme == "three_phase":
        after_gen, _ = train.generator_phase(state, x, key, model=model, tx=txs["gen"], lambda_=0.5)
        assert changed(state, after_gen) == {
            "encoder": True,
            "decoder": False,
            "discriminator": False,
        }


def test_lambda_outside_unit_interval_is_a_config_error(tiny_aae_config, tmp_path):
    from common.errors import ConfigError

    tiny_aae_config.lambda_ = 1.5
    with pytest.raises(ConfigError, match=r"lambda_=1.5 must be in \[0, 1\]"):
        train.train_and_evaluate(tiny_aae_config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_steps_on_one_batch_lower_the_reconstruction_loss(tiny_aae_config, key):
    from conftest import fake_digits

    from common import input_pipeline

    state = train.create_train_state(tiny_aae_config, key)
    step = jax.jit(
        functools.partial(
            train.train_step,
            model=train.make_model(tiny_aae_config),
            txs=train.make_optimizers(tiny_aae_config),
            lambda_=0.995,
            scheme="combined",
        )
    )
    batch = input_pipeline.to_tanh_range(fake_digits(16, 0)[0][..., None])
    recon = []
    for i in range(10):
        state, metrics = step(state, batch, jax.random.fold_in(key, i))
        recon.append(float(metrics.compute()["recon_loss"]))
    assert recon[-1] < 0.97 * recon[0], recon


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory, mnist_dir):
    config = make_tiny_aae_config(mnist_dir)
    workdir = str(tmp_path_factory.mktemp("aae_run"))
    return config, workdir, train.train_and_evaluate(config, workdir)


def test_run_writes_every_artefact(trained_workdir):
    config, workdir, final = trained_workdir
    for name in (
        "config.json",
        "metrics.jsonl",
        "loss_curve.png",
        "latent_scatter.png",
        "samples/epoch_0.png",
        "samples/epoch_2.png",
        "reconstructions/epoch_0.png",
        "reconstructions/epoch_2.png",
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2]
    keys = {"epoch", "recon_loss", "gen_loss", "ae_loss", "disc_loss", "disc_accuracy", "seconds"}
    assert keys <= set(rows[1]) and keys <= set(rows[2])
    assert 0.0 <= rows[2]["disc_accuracy"] <= 1.0
    assert np.isfinite(final["test_recon_loss"])
    manager = checkpoint.make_manager(workdir, read_only=True)
    assert set(manager.all_steps()) >= {0, 1, 2}


def test_restore_an_aae_checkpoint(trained_workdir):
    from common import restore

    config, module, state, epoch = restore.restore_run(trained_workdir[1], 1)
    assert (config.model, epoch, module) == ("aae", 1, train)
    grid = module.prior_samples(config, state.params, jax.random.key(0), 4)
    assert grid.shape == (4, 28, 28, 1) and float(grid.min()) >= 0 and float(grid.max()) <= 1
