"""configs/: the experiments cover the assignment's questions; variants restate no default."""

import ast
import glob
import os

from common.train import kinds
from configs import experiments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_experiments_cover_every_question_of_the_issue():
    questions = ", ".join(e.questions for e in experiments.EXPERIMENTS)
    for q in ("Q1.7", "Q1.8", "Q1.9", "Q2.4", "Q2.5", "Q2.6", "Q2.7"):
        assert q in questions
    for exp in experiments.EXPERIMENTS:
        config = exp.get_config()
        assert config.model == ("vae" if exp.name.startswith("vae") else "aae"), exp.name
        assert config.model in kinds.TRAINERS
        assert os.path.exists(os.path.join(ROOT, exp.config_file)), exp.config_file
    assert experiments.BY_NAME["aae_z20_stochastic"].get_config().stochastic_encoder
    configs = {e.name: e.get_config() for e in experiments.EXPERIMENTS}
    lambdas = {name: c.lambda_ for name, c in configs.items() if c.model == "aae"}
    assert lambdas == {
        "ae_z8": 1.0,
        "aae": 0.995,
        "ae_z2": 1.0,
        "aae_z2": 0.995,
        "aae_z20": 0.995,
        "aae_z20_stochastic": 0.995,
    }


def test_variants_set_only_what_differs_from_their_base():
    # Each hyperparameter lives in one place: a variant that restates its base's value hides
    # which settings the experiment really changes.
    from configs import aae, vae

    bases = {"aae": aae.get_config(), "vae": vae.get_config()}
    for path in glob.glob(os.path.join(ROOT, "configs", "*.py")):
        tree = ast.parse(open(path).read())
        base_name = next(
            (
                n.names[0].name
                for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom)
                and n.module == "configs"
                and n.names[0].name in bases
            ),
            None,
        )
        if base_name is None or os.path.basename(path) in ("aae.py", "vae.py"):
            continue
        base = bases[base_name]
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Attribute)
                and isinstance(node.value, ast.Constant)
            ):
                field = node.targets[0].attr
                assert base[field] != node.value.value, f"{path} restates {field}"


def test_the_priors_plan_trains_the_papers_priors_beside_the_z2_models():
    # scripts/reproduce.py lists the plans for --plan without importing them (a usage error
    # stays fast): the same names.
    script = ast.parse(open(os.path.join(ROOT, "scripts", "reproduce.py")).read())
    define = next(
        n
        for n in ast.walk(script)
        if isinstance(n, ast.Call)
        and getattr(n.func, "attr", "") == "DEFINE_enum"
        and n.args[0].value == "plan"
    )
    assert sorted(ast.literal_eval(define.args[2])) == sorted(experiments.PLANS)
    plan = experiments.PLANS["priors"]
    names = [e.name for e in plan.experiments]
    assert names[:2] == ["vae_z2", "aae_z2"]  # the same experiments as the assignment's
    assert {e.name for e in experiments.EXPERIMENTS}.isdisjoint(names[2:])
    assert plan.report_file != experiments.ASSIGNMENT.report_file
    assert not plan.figures.startswith(experiments.ASSIGNMENT.figures + "/aae")
    for gallery in plan.galleries:
        assert set(gallery.experiments) <= set(names)
    configs = {e.name: e.get_config() for e in experiments.PRIOR_EXPERIMENTS}
    assert {n: (c.prior.name, c.prior.labels, c.z_dim) for n, c in configs.items()} == {
        "aae_z2_mixture": ("mixture", False, 2),
        "aae_z2_mixture_labels": ("mixture", True, 2),
        "aae_z2_swiss_roll_labels": ("swiss_roll", True, 2),
        "aae_z2_mixture_all_labels": ("mixture", True, 2),
        "aae_z2_swiss_roll_all_labels": ("swiss_roll", True, 2),
    }
    shares = {n: c.prior.labelled_share for n, c in configs.items() if c.prior.labels}
    assert shares == {  # the paper's fifth, and every image
        "aae_z2_mixture_labels": 0.2,
        "aae_z2_swiss_roll_labels": 0.2,
        "aae_z2_mixture_all_labels": 1.0,
        "aae_z2_swiss_roll_all_labels": 1.0,
    }
    for config in configs.values():  # each builds: the trainer checks the prior against z_dim
        kinds.trainer_class(config.model)(config)
    assert experiments.BY_NAME["aae"].get_config().prior.name == "gaussian"  # the assignment's
