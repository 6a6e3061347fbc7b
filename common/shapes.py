"""The arrays that pass between data, models, losses and pictures, named once.

Convention: images are NHWC, B is the batch (or N a whole split), D = z_dim, K the classes or
values of a categorical. Signatures use these names instead of restating the shape in prose.
"""

from typing import Annotated

import jax
import numpy as np

IMAGE_SHAPE = (28, 28, 1)
NUM_VALUES = 16  # a 4-bit pixel's values, 0..15
NUM_CLASSES = 10  # the labels' classes, 0..9 (MNIST's digits, Fashion-MNIST's garments)

ImagesU8 = Annotated[jax.Array | np.ndarray, "uint8 [B, 28, 28, 1] in 0..255: the data's pixels"]
Pixels4 = Annotated[jax.Array, "int32 [B, 28, 28, 1] in 0..15: the VAE's 4-bit input"]
TanhImages = Annotated[jax.Array, "float32 [B, 28, 28, 1] in [-1, 1]: the AAE's input and output"]
UnitImages = Annotated[jax.Array, "float32 [B, 28, 28, 1] in [0, 1]: what pictures show"]
Logits = Annotated[jax.Array, "float32 [B, 28, 28, 16]: the VAE decoder's unnormalised output"]
Codes = Annotated[jax.Array, "float32 [B, D]: latent codes z"]
PerImage = Annotated[jax.Array, "float32 [B]: one value per image"]
Labels = Annotated[jax.Array | np.ndarray, "int32 [B] in 0..9: digit classes"]
