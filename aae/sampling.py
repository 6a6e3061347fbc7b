"""Pictures from an AAE: samples of the prior decoded (Questions 2.5 to 2.7)."""

from __future__ import annotations

import jax

from aae import models
from common.shapes import TanhImages


def sample_images(model: models.AdversarialAE, params, key: jax.Array, num: int) -> TanhImages:
    """Decodes `num` draws of the model's prior."""
    return model.apply({"params": params}, key, num, method=models.AdversarialAE.sample)
