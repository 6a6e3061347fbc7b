"""Priors p(z) the AAE can impose: the discriminator sees only draws, never a density, so any
prior it can sample will do (Makhzani et al. 2015, Figure 2). Label-guided (section 2.3), each
label owns a region and the discriminator also sees a one-hot of NUM_CONDITIONS: the label, or
NO_LABEL (real codes from the whole prior). Each prior is a frozen dataclass (hashable: a flax
field, a static argument) with `sample(key, num)`, `sample_for_labels(key, labels int32 [N] in
0..NO_LABEL)` and, with regions, `region(z) -> int32 [N] in 0..num_regions - 1`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from common.errors import ConfigError
from common.shapes import Codes

NUM_LABELS = 10  # digit classes; a label-guided prior has one region per label
NO_LABEL = NUM_LABELS  # the one-hot's last entry: an image without a label
NUM_CONDITIONS = NUM_LABELS + 1  # the size of the one-hot the discriminator also receives
ROLL_POINTS = 4096  # points on the swiss roll that `SwissRoll.region` measures distances to


def prior_config(name: str = "gaussian", labels: bool = False) -> ml_collections.ConfigDict:
    """A config's `prior` section: the one place its defaults are set."""
    return ml_collections.ConfigDict(
        dict(
            name=name,  # one of PRIORS
            labels=labels,  # label-guided (the paper's section 2.3): needs a prior with regions
            labelled_share=0.2,  # training images that keep their label (paper: 10k of 50k)
            num_components=10,  # mixture
            radius=2.0,  # mixture: distance of the components' means from the origin
            radial_std=0.5,  # mixture: each component's spread along its radius
            tangential_std=0.1,  # mixture: ... and across it
            roll_radius=3.0,  # swiss_roll: distance of its outer end from the origin
            roll_turns=2.0,  # swiss_roll: how many times it winds around the origin
        )
    )


def _one_hot_or_all(key: jax.Array, labels: jax.Array, num_regions: int) -> jax.Array:
    """labels with NO_LABEL replaced by a region drawn uniformly."""
    anywhere = jax.random.randint(key, labels.shape, 0, num_regions)
    return jnp.where(labels == NO_LABEL, anywhere, labels)


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """N(0, I) in z_dim dimensions: the assignment's prior. No regions (no label guidance)."""

    z_dim: int
    name = "gaussian"
    num_regions = 0

    def sample(self, key: jax.Array, num: int) -> Codes:
        # Keep this exact draw: runs trained before priors were configurable resume with it.
        return jax.random.normal(key, (num, self.z_dim), jnp.float32)

    def sample_for_labels(self, key: jax.Array, labels: jax.Array) -> Codes:
        raise ValueError("the Gaussian prior has no region per label")

    def region(self, z: Codes) -> jax.Array:
        raise ValueError("the Gaussian prior has no regions")


@dataclasses.dataclass(frozen=True)
class Mixture:
    """Equal-weight 2-D Gaussians: component k at radius * (cos a_k, sin a_k), a_k = 2 pi k / K,
    std radial_std along that direction and tangential_std across it. For K >= 3 the mean is 0
    and the covariance (radius^2 + radial_std^2 + tangential_std^2) / 2 times I."""

    num_components: int = 10
    radius: float = 2.0
    radial_std: float = 0.5
    tangential_std: float = 0.1
    name = "mixture"
    z_dim = 2

    @property
    def num_regions(self) -> int:
        return self.num_components

    def means(self) -> jax.Array:
        """[K, 2] float32."""
        angle = 2.0 * jnp.pi * jnp.arange(self.num_components) / self.num_components
        return self.radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)

    def _draw(self, key: jax.Array, component: jax.Array) -> Codes:
        """One draw of each component index in `component`."""
        along, across = jax.random.normal(key, (2, *component.shape))
        angle = 2.0 * jnp.pi * component / self.num_components
        r = self.radius + self.radial_std * along
        t = self.tangential_std * across
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        return jnp.stack([r * cos - t * sin, r * sin + t * cos], -1)

    def sample(self, key: jax.Array, num: int) -> Codes:
        pick, draw = jax.random.split(key)
        return self._draw(draw, jax.random.randint(pick, (num,), 0, self.num_components))

    def sample_for_labels(self, key: jax.Array, labels: jax.Array) -> Codes:
        """Label k's draws from component k; NO_LABEL's from the whole mixture."""
        pick, draw = jax.random.split(key)
        return self._draw(draw, _one_hot_or_all(pick, labels, self.num_components))

    def region(self, z: Codes) -> jax.Array:
        """The component whose mean is nearest each code."""
        sq = jnp.sum((z[:, None, :] - self.means()[None]) ** 2, -1)
        return jnp.argmin(sq, -1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class SwissRoll:
    """A 2-D spiral: at t = sqrt(u), u ~ U(0, 1), the point at radius roll_radius * t and angle
    2 pi roll_turns * t. Its NUM_LABELS regions are equal slices of u, from the centre outwards."""

    roll_radius: float = 3.0
    roll_turns: float = 2.0
    name = "swiss_roll"
    z_dim = 2
    num_regions = NUM_LABELS

    def point(self, u: jax.Array) -> Codes:
        """The roll at positions u [N] in [0, 1]."""
        t = jnp.sqrt(u)
        angle = 2.0 * jnp.pi * self.roll_turns * t
        return self.roll_radius * t[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)

    def _draw(self, key: jax.Array, stretch: jax.Array) -> Codes:
        u = (stretch + jax.random.uniform(key, stretch.shape)) / self.num_regions
        return self.point(u)

    def sample(self, key: jax.Array, num: int) -> Codes:
        return self.point(jax.random.uniform(key, (num,)))

    def sample_for_labels(self, key: jax.Array, labels: jax.Array) -> Codes:
        """Label k's draws from stretch k; NO_LABEL's from the whole roll."""
        pick, draw = jax.random.split(key)
        return self._draw(draw, _one_hot_or_all(pick, labels, self.num_regions))

    def region(self, z: Codes) -> jax.Array:
        """The stretch of the roll's point nearest each code (of ROLL_POINTS)."""
        u = (jnp.arange(ROLL_POINTS) + 0.5) / ROLL_POINTS
        points = self.point(u)
        # |z - p|^2 up to |z|^2 (the same for every p): [N, ROLL_POINTS], no [N, P, 2] temporary.
        sq = jnp.sum(points**2, -1)[None, :] - 2.0 * z @ points.T
        return jnp.floor(u[jnp.argmin(sq, -1)] * self.num_regions).astype(jnp.int32)


Prior = Gaussian | Mixture | SwissRoll
PRIORS = {p.name: p for p in (Gaussian, Mixture, SwissRoll)}


def from_config(prior: ml_collections.ConfigDict, z_dim: int) -> Prior:
    """The prior of a config's `prior` section; ConfigError for an unknown name, a 2-D prior
    with z_dim != 2, or labels on a prior without a region per label."""
    name = prior.name
    if name not in PRIORS:
        raise ConfigError(f"config.prior.name={name!r} must be one of {', '.join(PRIORS)}")
    if name == Gaussian.name:
        built = Gaussian(z_dim)
    else:
        if z_dim != 2:
            raise ConfigError(
                f"config.prior.name={name!r} is a 2-D prior, but config.z_dim={z_dim}; "
                "set config.z_dim=2 or use the gaussian prior"
            )
        fields = [f.name for f in dataclasses.fields(PRIORS[name])]
        built = PRIORS[name](**{field: prior[field] for field in fields})
    if prior.labels and built.num_regions != NUM_LABELS:
        needs = (
            "a prior with a region per label (mixture or swiss_roll)"
            if built.num_regions == 0
            else f"one component per label: config.prior.num_components={NUM_LABELS}"
        )
        raise ConfigError(f"config.prior.labels=True needs {needs}")
    return built
