"""Rendering a latent story into shot features: each modality is a noisy sum of codebook vectors.

    visual = face(on-screen characters) * w(size) + place * w(size) + scene lighting
             + movie look (director + decade + genre + its own) + size + two-shot closeness + noise
    audio  = [dialogue] (voice of the speaker + speaking style) + ambience (place, scene, genre music)
             + decade sound quality + movie mix + noise                       (missing where dropped out)
    text   = name of the addressee + topic + speaking style + relationship cue + genre + noise
                                                                              (only where there is dialogue)
    + nuisance (each modality, only with cfg.nuisance > 0): label-free film and shot variation
    then, with cfg.dim_scale > 0, every dimension j of a modality becomes (x_j + offset_j) * scale_j

The weights below are the task design: a factor's weight decides how visible its label is in each
modality, and the movie-level deviations (which do not average out over shots) cap what pooling can
reach. docs/movieworld.md lists which task needs which modality and the probe measurements.

Dimension legend:
    S   shots   C   characters   D_m   width of modality m   Z   scenes   G   genres
"""

from __future__ import annotations

import numpy as np

from lmp.synth.config import SynthConfig
from lmp.synth.story import Movie
from lmp.synth.world import World, unit_vectors

# Per shot size (extreme wide ... extreme close-up): how much faces and places fill the frame.
FACE_BY_SIZE = np.array([0.3, 0.6, 1.0, 1.4, 1.6])
PLACE_BY_SIZE = np.array([1.5, 1.2, 0.8, 0.5, 0.3])
# Norm of the per-shot noise at noise level 1.0. It is several times a factor's weight, so one shot says
# little about a clip-level latent while the mean over a clip (tens of shots) says much more.
NOISE_NORM = {"visual": 3.0, "audio": 3.0, "text": 2.5}
# Nuisance (cfg.nuisance > 0): directions per modality that carry no label, like the dominant axes of a real
# frozen encoder (brightness, colour, motion blur; loudness, room tone, mic). At level 1 a film's offset has
# norm 2 (it does not average out over a clip: grade, film stock, mix) and a shot's part norm 3; both are
# drawn independently per modality, so only cross-modal agreement (or labels) tells them from content.
NUISANCE_RANK = 8
NUISANCE_NORM = {"film": 2.0, "shot": 3.0}


def _genre_mix(movie: Movie, book: np.ndarray) -> np.ndarray:
    """Primary genre at full weight, secondary genres at half: float [D]."""
    w = 0.5 * movie.genres.astype(float)
    w[movie.genre] = 1.0
    return w @ book


def _confusion(rng: np.random.Generator, book: np.ndarray, own: int, spread: float) -> np.ndarray:
    """A random mix of the *other* entries of a codebook: a film that looks a bit like another director's
    (or another decade's). Unlike isotropic noise it lies in the directions a probe relies on, and being
    one draw per movie it does not average out over shots, so it caps clip-level accuracy. float [D]."""
    w = rng.standard_normal(book.shape[0])
    w[own] = 0.0
    return spread * (w / np.linalg.norm(w)) @ book


def _noise(rng: np.random.Generator, shape: tuple[int, int], level: float, modality: str) -> np.ndarray:
    return level * NOISE_NORM[modality] * rng.standard_normal(shape) / np.sqrt(shape[1])


def _nuisance(cfg: SynthConfig, movie: Movie) -> dict[str, np.ndarray]:
    """Label-free variation {modality: float [S, D_m]}. Its own random streams (a world-wide basis, one draw
    per movie), so switching it on leaves every other feature and label of the corpus unchanged."""
    basis_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 4]))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 5, movie.index]))
    out = {}
    for m, dim in cfg.dims.items():
        rank = min(NUISANCE_RANK, dim)
        basis = np.linalg.qr(basis_rng.standard_normal((dim, rank)))[0].T  # [rank, D_m] orthonormal rows
        film = NUISANCE_NORM["film"] * unit_vectors(rng, 1, rank)  # [1, rank]
        shot = NUISANCE_NORM["shot"] * rng.standard_normal((movie.num_shots, rank)) / np.sqrt(rank)  # [S, rank]
        out[m] = cfg.nuisance * (film + shot) @ basis
    return out


def _dim_scales(cfg: SynthConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{modality: (offset [D_m], scale [D_m])}, drawn once per world from their own stream: log-normal
    scales exp(N(0, dim_scale^2)) and offsets of dim_scale times a shot's typical noise per dimension.
    A real modality's row is often several encoders side by side (aisfx's sound events beside a unit-norm
    speaker embedding) or has outlier dimensions; nothing about the story changes."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 6]))
    out = {}
    for m, dim in cfg.dims.items():
        offset = cfg.dim_scale * NOISE_NORM[m] / np.sqrt(dim) * rng.standard_normal(dim)
        out[m] = (offset, np.exp(cfg.dim_scale * rng.standard_normal(dim)))
    return out


def render(world: World, movie: Movie, cfg: SynthConfig, rng: np.random.Generator) -> tuple[dict, dict]:
    """Features {modality: float32 [S, D_m]} and presence masks {modality: bool [S]} of one movie."""
    S, Z = movie.num_shots, int(movie.scene.max()) + 1
    rel = movie.relationship[movie.segment]  # [S] relationship of the focus pair of each shot's segment
    style = movie.seg_style[movie.segment]  # [S]
    dialogue = movie.dialogue[:, None]  # [S, 1]
    dims = cfg.dims
    feats: dict[str, np.ndarray] = {}

    V = world.codebooks["visual"]
    n_on = movie.onscreen.sum(axis=1, keepdims=True)  # [S, 1]
    faces = (movie.onscreen / np.maximum(n_on, 1)) @ V["face"][movie.cast]  # [S, C] @ [C, Dv] -> [S, Dv]
    look = (
        0.5 * V["director"][movie.director]
        + 0.45 * V["decade"][movie.decade]
        + 0.35 * _genre_mix(movie, V["genre"])
        + _confusion(rng, V["director"], movie.director, 0.5)
        + _confusion(rng, V["decade"], movie.decade, 0.45)
        + 0.4 * unit_vectors(rng, 1, dims["visual"])[0]  # this film's own look
    )
    lighting = 0.8 * unit_vectors(rng, Z, dims["visual"])  # [Z, Dv] time of day / set dressing per scene
    feats["visual"] = (
        FACE_BY_SIZE[movie.size, None] * faces
        + PLACE_BY_SIZE[movie.size, None] * V["place"][movie.scene_place[movie.scene]]
        + lighting[movie.scene]
        + look
        + 0.8 * V["size"][movie.size]
        + 0.6 * movie.two_shot[:, None] * V["two_shot"][rel]
        + _noise(rng, (S, dims["visual"]), cfg.visual_noise, "visual")
    )

    A = world.codebooks["audio"]
    speech = 1.2 * A["voice"][movie.cast[movie.speaker]] + 0.5 * A["style"][style]  # [S, Da]
    ambience = (
        0.6 * A["place"][movie.scene_place[movie.scene]]
        + 0.6 * unit_vectors(rng, Z, dims["audio"])[movie.scene]
    )
    mix = (
        0.4 * _genre_mix(movie, A["genre"])
        + 0.45 * A["decade"][movie.decade]
        + 0.2 * A["director"][movie.director]  # the director's sound (composer, mixer): faint
        + _confusion(rng, A["decade"], movie.decade, 0.45)
        + 0.4 * unit_vectors(rng, 1, dims["audio"])[0]
    )
    feats["audio"] = (
        dialogue * speech + ambience + mix + _noise(rng, (S, dims["audio"]), cfg.audio_noise, "audio")
    )

    T = world.codebooks["text"]
    names = unit_vectors(rng, movie.cast.shape[0], dims["text"])  # [C, Dt] character names, this movie only
    feats["text"] = dialogue * (
        0.8 * names[movie.addressee]
        + T["topic"][movie.topic]
        + 0.07 * T["style"][style]
        + 1.5 * movie.relationship_cue[:, None] * T["relationship"][rel]
        + 0.25 * _genre_mix(movie, T["genre"])
        + _noise(rng, (S, dims["text"]), cfg.text_noise, "text")
    )
    masks = {
        "visual": np.ones(S, dtype=bool),
        "audio": movie.audio_present.copy(),
        "text": movie.dialogue.copy(),
    }
    if cfg.nuisance > 0:
        for m, x in _nuisance(cfg, movie).items():
            feats[m] = feats[m] + (x if m != "text" else movie.dialogue[:, None] * x)
    if cfg.dim_scale > 0:
        for m, (offset, scale) in _dim_scales(cfg).items():
            feats[m] = (feats[m] + offset) * scale
    for m, present in masks.items():
        feats[m][~present] = 0.0  # absent modality: zeros, as the store contract asks
    return {m: x.astype(np.float32) for m, x in feats.items()}, masks
