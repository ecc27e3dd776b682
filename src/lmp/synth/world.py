"""The MovieWorld universe: who and what exists before any movie is made (docs/movieworld.md).

A world is drawn once per seed. It holds the label vocabularies (LVU-shaped), the people (directors,
writers, actors) with their habits, and one random *codebook* per (modality, factor): a unit-norm
vector per value of a latent factor that shot features are mixed from.

Dimension legend:
    D_m   feature width of modality m (visual/audio/text)
    A     actors in the global pool           P   places (6 labelled scenes + 4 unlabelled)
    Dn    directors   W  writers   G genres   Y   decades      T  dialogue topics
    K     shot sizes  S  speaking styles      R   relationships
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Label vocabularies. LVU's classes where LVU has them; the order is the class id order.
RELATIONSHIPS = ("friends", "wife_husband", "boyfriend_girlfriend", "ex_partners")
SPEAKING_STYLES = ("explain", "confront", "discuss", "teach", "threaten")
SCENES = ("office", "airport", "school", "hotel", "prison", "restaurant")
EXTRA_PLACES = ("street", "home", "car", "park")  # places that scenes happen in but no clip is labelled with
PLACES = SCENES + EXTRA_PLACES
GENRES = ("action", "comedy", "drama", "horror", "romance", "thriller")
DECADES = ("1950s", "1960s", "1970s", "1980s", "1990s", "2000s", "2010s")
NUM_DIRECTORS = 10
NUM_WRITERS = 10
DIRECTORS = tuple(f"director_{i:02d}" for i in range(NUM_DIRECTORS))
WRITERS = tuple(f"writer_{i:02d}" for i in range(NUM_WRITERS))
SHOT_SIZES = ("extreme_wide", "wide", "medium", "close_up", "extreme_close_up")
CUT_TYPES = ("speaker_change", "l_cut", "reaction", "cut_away", "emphasis")
NUM_TOPICS = 20


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n random directions in R^dim, each of norm 1: float64 [n, dim]."""
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@dataclass
class World:
    """Global latent parameters shared by all movies of one seed."""

    codebooks: dict[str, dict[str, np.ndarray]]
    """modality -> factor -> float [values, D_m] unit vectors (e.g. codebooks['visual']['place'] [P, Dv])."""
    director_log_asl: np.ndarray
    """float [Dn]: log of the director's average shot length in seconds."""
    director_sizes: np.ndarray
    """float [Dn, K]: the director's preferred shot-size distribution (framing habit)."""
    director_genres: np.ndarray
    """float [Dn, G]: which genres the director tends to make."""
    director_quality: np.ndarray
    """float [Dn]: audience appeal (drives the like ratio)."""
    writer_topics: np.ndarray
    """float [W, T]: the writer's topic distribution (what the dialogue is about)."""
    writer_quality: np.ndarray
    """float [W]: audience appeal (drives the like ratio)."""
    genre_topics: np.ndarray
    """float [G, T]: topics the genre brings into dialogue."""
    genre_log_asl: np.ndarray
    """float [G]: genre shift of log shot length (action cuts fast)."""
    genre_dialogue: np.ndarray
    """float [G]: genre shift of the dialogue rate."""
    genre_popularity: np.ndarray
    """float [G]: genre effect on log views."""
    actor_star: np.ndarray
    """float [A]: star power (drives views)."""
    style_like: np.ndarray
    """float [S]: speaking-style effect on the like ratio."""


def make_world(seed: int, dims: dict[str, int], num_actors: int) -> World:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    G, Y, K, S, R, T, P = (
        len(GENRES),
        len(DECADES),
        len(SHOT_SIZES),
        len(SPEAKING_STYLES),
        len(RELATIONSHIPS),
        NUM_TOPICS,
        len(PLACES),
    )
    # Factors per modality: which latent leaves a trace in which feature (the heart of the task design).
    factors = {
        "visual": {
            "face": num_actors, "place": P, "director": NUM_DIRECTORS, "decade": Y, "genre": G, "size": K,
            "two_shot": R,
        },
        "audio": {"voice": num_actors, "place": P, "genre": G, "decade": Y, "style": S, "director": NUM_DIRECTORS},
        "text": {"topic": T, "style": S, "relationship": R, "genre": G},
    }  # fmt: skip
    codebooks = {
        m: {name: unit_vectors(rng, n, dims[m]) for name, n in table.items()} for m, table in factors.items()
    }
    size_prior = np.array([0.5, 1.0, 1.5, 1.5, 0.5])
    return World(
        codebooks=codebooks,
        director_log_asl=np.log(1.5) + rng.normal(0.0, 0.3, NUM_DIRECTORS),
        director_sizes=rng.dirichlet(size_prior * 2.0, NUM_DIRECTORS),
        director_genres=rng.dirichlet(np.ones(G), NUM_DIRECTORS),
        director_quality=rng.normal(0.0, 1.0, NUM_DIRECTORS),
        writer_topics=rng.dirichlet(np.full(T, 0.25), NUM_WRITERS),
        writer_quality=rng.normal(0.0, 1.0, NUM_WRITERS),
        genre_topics=rng.dirichlet(np.full(T, 0.25), G),
        genre_log_asl=rng.normal(0.0, 0.2, G),
        genre_dialogue=rng.uniform(-0.1, 0.1, G),
        genre_popularity=rng.normal(0.0, 0.6, G),
        actor_star=rng.standard_normal(num_actors),
        style_like=rng.normal(0.0, 0.4, S),
    )
