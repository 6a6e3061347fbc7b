"""configs/: the experiments cover the assignment's questions; variants restate no default."""

import ast
import functools
import glob
import importlib
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


def _dotted(node) -> list[str] | None:
    """config.a.b -> ["a", "b"]; None for what is not an attribute chain on `config`."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return parts if isinstance(node, ast.Name) and node.id == "config" else None


def test_variants_set_only_what_differs_from_their_base():
    # Each hyperparameter lives in one place: a variant that restates its base's value hides
    # which settings the experiment really changes. Every config built on another (`from
    # configs import BASE`), each constant it sets (`config.a.b = v`, `config.a.update(b=v)`).
    checked = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))):
        tree = ast.parse(open(path).read())
        imports = [
            n.names[0].name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "configs"
        ]
        if len(imports) != 1:  # the base configs, experiments.py
            continue
        base = importlib.import_module(f"configs.{imports[0]}").get_config()
        for node in ast.walk(tree):
            settings = []
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                settings = [(_dotted(node.targets[0]), node.value.value)]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
            ):
                prefix = _dotted(node.func.value)
                settings = [
                    (prefix + [k.arg], k.value.value)
                    for k in node.keywords
                    if prefix is not None and isinstance(k.value, ast.Constant)
                ]
            for field, value in settings:
                if field:
                    old = functools.reduce(lambda c, name: c[name], field, base)
                    assert old != value, f"{path} restates {'.'.join(field)} = {value!r}"
                    checked += 1
    assert checked >= 20


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
