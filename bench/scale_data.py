"""Synthetic identity-clustered templates whose score distributions match SFace's on LFW (bench/scale.py).

How the match is made: SFace (the project's default recognizer: YuNet, align_face, SFace) embeds LFW
photos of the first people by name with two or more photos; every same-person pair gives a genuine
cosine and every cross-person pair an impostor cosine. A template is then

    t = a·c + sqrt(1 - a²)·n        (c: the identity's unit centre, n: unit noise, a in (0, 1))

so two templates of one identity score about a₁·a₂: a is drawn from a Beta distribution whose first
two moments give the genuine mean and standard deviation. Centres share one direction m with weight
ρ and otherwise spread over a random k-dimensional subspace, c = sqrt(ρ)·m + sqrt(1-ρ)·u, so two
identities score about a₁·a₂·(ρ + (1-ρ)·u₁·u₂): ρ sets the impostor mean and k its spread. The bench
measures the synthetic distributions again and prints both, so any mismatch is visible.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recognition import Recognizer, embed_photos

FloatArray = npt.NDArray[np.float32]


def _unit_rows(rows: npt.NDArray[np.floating]) -> FloatArray:
    """Each row divided by its L2 norm, as float32."""
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=np.float32)


@dataclass(frozen=True)
class ScoreStats:
    """Mean and standard deviation of genuine and impostor cosines, with how many pairs."""

    genuine_mean: float
    genuine_std: float
    impostor_mean: float
    impostor_std: float
    genuine_pairs: int
    impostor_pairs: int

    def as_dict(self) -> dict[str, float]:
        return {key: round(value, 4) for key, value in asdict(self).items()}


def pair_stats(vectors: FloatArray, identities: npt.NDArray[np.int64]) -> ScoreStats:
    """Genuine and impostor statistics over every pair of the given unit vectors."""
    scores = vectors @ vectors.T
    upper = np.triu_indices(len(vectors), k=1)
    same = identities[upper[0]] == identities[upper[1]]
    genuine, impostor = scores[upper][same], scores[upper][~same]
    return ScoreStats(
        float(genuine.mean()),
        float(genuine.std()),
        float(impostor.mean()),
        float(impostor.std()),
        int(genuine.size),
        int(impostor.size),
    )


def sface_lfw_stats(recognizer: Recognizer, lfw_dir: Path, *, max_photos: int) -> ScoreStats:
    """SFace's genuine and impostor cosine statistics on LFW, with the project's own pipeline."""
    photos: list[tuple[str, bytes]] = []
    for person_dir in sorted(path for path in lfw_dir.iterdir() if path.is_dir()):
        files = sorted(person_dir.glob("*.jpg"))[:4]
        if len(files) >= 2:
            photos.extend((f"{person_dir.name}/{path.name}", path.read_bytes()) for path in files)
        if len(photos) >= max_photos:
            break
    embedded = embed_photos(recognizer, photos, is_aligned=False, clock=time.monotonic)
    keys = sorted(embedded.vectors)
    names = {name: index for index, name in enumerate(sorted({key.split("/")[0] for key in keys}))}
    identities = np.array([names[key.split("/")[0]] for key in keys], dtype=np.int64)
    return pair_stats(np.stack([embedded.vectors[key] for key in keys]), identities)


@dataclass(frozen=True)
class SyntheticFaces:
    """The generator's parameters, fitted to target statistics (see the module docstring)."""

    dim: int
    rho: float
    subspace_dim: int
    beta_a: float
    beta_b: float
    seed: int

    @classmethod
    def fit(cls, target: ScoreStats, *, dim: int, seed: int) -> SyntheticFaces:
        """Moments of a from the genuine scores, ρ from the impostor mean, k by bisection on the spread."""
        mean_a = math.sqrt(target.genuine_mean)
        second_moment = math.sqrt(target.genuine_std**2 + target.genuine_mean**2)
        var_a = max(second_moment - mean_a**2, 1e-6)
        common = mean_a * (1 - mean_a) / var_a - 1
        rho = min(max(target.impostor_mean / mean_a**2, 0.0), 0.9)
        low, high = 2, dim - 1
        while high - low > 1:  # the impostor spread shrinks as the subspace grows
            middle = (low + high) // 2
            faces = cls(dim, rho, middle, mean_a * common, (1 - mean_a) * common, seed)
            sample = population(faces, templates=1500, per_identity=3, probes=1, seed=seed + 1)
            if pair_stats(sample.gallery, sample.gallery_ids).impostor_std > target.impostor_std:
                low = middle
            else:
                high = middle
        return cls(dim, rho, high, mean_a * common, (1 - mean_a) * common, seed)

    def identities(self, count: int, rng: np.random.Generator) -> FloatArray:
        """Unit centres of `count` new identities."""
        basis = self._basis()
        spread = rng.standard_normal((count, self.subspace_dim)).astype(np.float32)
        spread /= np.linalg.norm(spread, axis=1, keepdims=True)
        centres = math.sqrt(self.rho) * basis[0] + math.sqrt(1 - self.rho) * (spread @ basis[1:])
        return _unit_rows(centres)

    def templates(self, centres: FloatArray, rng: np.random.Generator) -> FloatArray:
        """One unit template per centre row."""
        closeness = rng.beta(self.beta_a, self.beta_b, size=(len(centres), 1)).astype(np.float32)
        noise = rng.standard_normal(centres.shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        rows = closeness * centres + np.sqrt(1 - closeness**2) * noise
        return _unit_rows(rows)

    def _basis(self) -> FloatArray:
        """The shared direction and the identities' subspace: orthonormal rows, fixed by the seed."""
        rng = np.random.default_rng(self.seed)
        raw = rng.standard_normal((self.dim, self.subspace_dim + 1))
        return np.linalg.qr(raw)[0].T.astype(np.float32)


@dataclass(frozen=True)
class Population:
    """A gallery (templates_per_identity templates per identity) and mated and non-mated probes."""

    gallery: FloatArray
    gallery_ids: npt.NDArray[np.int64]
    mated: FloatArray
    mated_ids: npt.NDArray[np.int64]
    non_mated: FloatArray


def population(
    faces: SyntheticFaces, *, templates: int, per_identity: int, probes: int, seed: int
) -> Population:
    """Generate the gallery in chunks (bounded memory) and probes of fresh templates."""
    rng = np.random.default_rng(seed)
    identities = max(1, templates // per_identity)
    centres = faces.identities(identities, rng)
    gallery = np.empty((identities * per_identity, faces.dim), dtype=np.float32)
    gallery_ids = np.repeat(np.arange(identities, dtype=np.int64), per_identity)
    chunk = 65_536
    for start in range(0, len(gallery), chunk):
        gallery[start : start + chunk] = faces.templates(centres[gallery_ids[start : start + chunk]], rng)
    mated_ids = rng.choice(identities, size=probes, replace=False if probes <= identities else True)
    return Population(
        gallery=gallery,
        gallery_ids=gallery_ids,
        mated=faces.templates(centres[mated_ids], rng),
        mated_ids=mated_ids.astype(np.int64),
        non_mated=faces.templates(faces.identities(probes, rng), rng),
    )
