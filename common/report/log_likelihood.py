"""The VAE's importance-weighted log-likelihood in the results report, from the workdir's
run_files.LOG_LIKELIHOOD (written by vae.log_likelihood)."""

from __future__ import annotations

import json
import math
import os

from common import shapes
from common.report import markdown
from common.report.runs import Run
from common.train import run_files


def posterior_gap(result: dict) -> str:
    """Question 1.4 in numbers: the ELBO against the largest K's importance-weighted estimate of
    log p(x) on the same images. log p(x) - ELBO is the mean KL of q(z|x) to the true posterior;
    the K-sample estimate lies below log p(x), so the gap it shows is a lower bound of that KL."""
    best = max(result["rows"], key=lambda r: r["k"])
    gap = result["elbo_bpd"] - best["iw_bpd"]
    nats = gap * math.prod(shapes.IMAGE_SHAPE) * math.log(2)  # bits per pixel to nats
    return (
        f"The posterior gap (Question 1.4): the ELBO is {result['elbo_bpd']:.4f} bpd on these "
        f"images, the K = {best['k']} estimate {best['iw_bpd']:.4f} ± {best['iw_bpd_se']:.4f}: "
        f"q(z|x) is at least {gap:.4f} bpd ({nats:.1f} nats an image) from the true posterior "
        "in KL, the price of the encoder's Gaussian approximation."
    )


def section(run: Run, figures: markdown.Figures) -> list[str]:
    """The VAE's log-likelihood in the results: its table, the posterior gap, the figure."""
    lines = ["**Importance-weighted log-likelihood** (vae.log_likelihood):", ""]
    json_path = os.path.join(run.workdir, run_files.LOG_LIKELIHOOD)
    md_path = os.path.join(run.workdir, run_files.LOG_LIKELIHOOD_TABLE)
    if not os.path.exists(json_path):
        return lines + [
            "Not computed: it needs `vae.log_likelihood` and `scripts/reproduce.py --num_images N` "
            "(N > 0) after training.",
            "",
        ]
    with open(json_path) as f:
        result = json.load(f)
    try:
        lines.append(
            f"{result['num_images']} {result['split']} images, checkpoint of epoch "
            f"{result['epoch']}; ELBO {result['elbo_bpd']:.4f} bpd. IW: K samples from the "
            "encoder's q(z|x); prior: K samples from p(z). ESS: effective sample size of the "
            "K importance weights (mean over images)."
        )
        lines.append("")
        body = [
            [
                str(r["k"]),
                f"{r['iw_bpd']:.4f} ± {r['iw_bpd_se']:.4f}",
                f"{r['iw_ess']:.1f}",
                f"{r['prior_bpd']:.4f}",
                f"{r['prior_ess']:.2f}",
            ]
            for r in result["rows"]
        ]
        lines += markdown.table(
            ["K", "IW bpd (± s.e.)", "IW ESS", "prior MC bpd", "prior ESS"], body
        )
        lines += ["", posterior_gap(result)]
    except (KeyError, TypeError):  # another format than expected: show the evaluator's own table
        if os.path.exists(md_path):
            with open(md_path) as f:
                lines.append(f.read().strip())
    lines.append("")
    link = figures.link(run_files.PROPOSAL_VARIANCE, "prior vs posterior proposal")
    if link:
        lines += [link, ""]
    return lines


# ----------------------------------------------------------------------------- the report
