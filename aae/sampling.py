"""Pictures from an AAE: samples of the prior decoded (Questions 2.5 to 2.7)."""

from __future__ import annotations

import jax

from aae import models


def sample_images(model: models.AdversarialAE, params, key: jax.Array, num: int) -> jax.Array:
    """Decodes draws of the model's prior: [num, 28, 28, 1] float32 in [-1, 1]."""
    return model.apply({"params": params}, key, num, method=models.AdversarialAE.sample)
