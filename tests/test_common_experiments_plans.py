"""Where each run of the registry lies, and choosing experiments."""

import os

from common.experiments import plans

SWEEP = plans.Sweep("s", "S", ("ae",), (0, 1), 5, (plans.Variant("v", "V"),))


def test_where_each_run_lies(tmp_path):
    root = str(tmp_path)
    assert plans.run_dir(root, "vae") == os.path.join(root, "vae")
    assert plans.run_dir(root, "vae", seed=7) == os.path.join(root, "vae-seed7")
    assert plans.full_scale_root(root) == os.path.join(root, "full_scale")
    assert plans.sweep_root(root, SWEEP, SWEEP.variants[0]) == os.path.join(
        root, "sweeps", "s", "v"
    )
    for name in ("vae-seed1", "vae-seed2", "vae_z2-seed1", "vae"):
        os.makedirs(tmp_path / name)
    assert sorted(map(os.path.basename, plans.seed_dirs(root, "vae"))) == [
        "vae-seed1",
        "vae-seed2",
    ]
