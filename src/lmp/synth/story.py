"""One movie's latent story: who is in it, where its scenes happen, and who is on screen and talking in each shot.

Everything here is a latent variable: `render.py` turns it into features and `labels.py` into labels.
Each movie draws from its own random stream (seed, movie index), so a movie does not change when
`num_movies` does, and movies could be generated in any order.

Dimension legend:
    S   shots in the movie    C   characters (cast)    N   segments (labelled clips + an unlabelled tail)
    Z   scenes                K   shot sizes           G   genres
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmp.synth.config import SynthConfig
from lmp.synth.world import (
    DECADES,
    GENRES,
    NUM_DIRECTORS,
    NUM_WRITERS,
    PLACES,
    RELATIONSHIPS,
    SCENES,
    SPEAKING_STYLES,
    World,
)

# Probability that a scene of a clip happens at the clip's main place (the 'scene' label); otherwise anywhere.
MAIN_PLACE_PROB = 0.6
# Probability that a dialogue line between the clip's two focus characters reveals their relationship.
RELATIONSHIP_CUE_PROB = 0.3
# How shot size shifts log shot length (wide shots are held longer) and speaking shots are longer.
SIZE_LOG_DURATION = np.array([0.35, 0.2, 0.0, -0.15, -0.3])
# Shot-size preference multipliers for dialogue shots (close-ups) and shots with no character (wide).
SIZE_DIALOGUE = np.array([0.3, 0.6, 1.0, 2.0, 1.5])
SIZE_EMPTY = np.array([3.0, 2.0, 0.6, 0.15, 0.1])


@dataclass
class Movie:
    """Latent variables of one movie, its segments (clips), scenes and shots."""

    index: int
    id: str
    genre: int
    """Primary genre (the 'genre' label)."""
    genres: np.ndarray
    """bool [G]: all its genres (primary + secondary; the 'genre_multilabel' label)."""
    director: int
    writer: int
    decade: int
    cast: np.ndarray
    """int [C]: actor id of each character."""
    relations: np.ndarray
    """int [C, C]: symmetric relationship class between two characters."""
    log_asl: float
    """Log average shot length of this movie (director + decade + genre + its own deviation)."""
    seg_bounds: np.ndarray
    """int [N + 1]: segment n is shots [seg_bounds[n], seg_bounds[n + 1])."""
    seg_is_clip: np.ndarray
    """bool [N]: the segment is long enough to be a labelled clip."""
    seg_place: np.ndarray
    """int [N]: main place (the 'scene' label), one of the labelled SCENES."""
    seg_style: np.ndarray
    """int [N]: speaking style of the dialogue (the 'way_speaking' label)."""
    seg_pair: np.ndarray
    """int [N, 2]: the two focus characters (their relationship is the 'relationship' label)."""
    seg_like: np.ndarray
    """float [N]: like ratio in (0, 1)."""
    seg_log_views: np.ndarray
    """float [N]: natural log of the view count."""
    scene: np.ndarray
    """int [S]: scene index of each shot."""
    scene_place: np.ndarray
    """int [Z]: place of each scene (any of PLACES)."""
    scene_topic: np.ndarray
    """int [Z]: main dialogue topic of each scene."""
    segment: np.ndarray
    """int [S]: segment index of each shot."""
    onscreen: np.ndarray
    """bool [S, C]: character visible in the shot."""
    dialogue: np.ndarray
    """bool [S]: someone speaks in the shot (text present)."""
    speaker: np.ndarray
    """int [S]: speaking character (meaningful where dialogue)."""
    addressee: np.ndarray
    """int [S]: character spoken to (meaningful where dialogue)."""
    l_cut: np.ndarray
    """bool [S]: the previous shot's speaker keeps talking over this shot (an L-cut into it)."""
    topic: np.ndarray
    """int [S]: dialogue topic (meaningful where dialogue)."""
    relationship_cue: np.ndarray
    """bool [S]: the line reveals the focus pair's relationship."""
    two_shot: np.ndarray
    """bool [S]: both focus characters framed together, showing their closeness."""
    size: np.ndarray
    """int [S]: shot size, 0 = extreme wide ... 4 = extreme close-up."""
    audio_present: np.ndarray
    """bool [S]."""
    times: np.ndarray
    """float [S, 2]: start/end seconds, contiguous."""

    @property
    def num_shots(self) -> int:
        return int(self.scene.shape[0])

    @property
    def relationship(self) -> np.ndarray:
        """int [N]: relationship of each segment's focus pair."""
        return self.relations[self.seg_pair[:, 0], self.seg_pair[:, 1]]


def movie_id(index: int) -> str:
    """Store id of the index-th movie: mw00000, mw00001, ..."""
    return f"mw{index:05d}"


def _sample_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One category per row of non-negative weights [n, k] (inverse CDF, vectorised): int [n]."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _tile(rng: np.random.Generator, start: int, stop: int, lo: int, hi: int) -> np.ndarray:
    """Cut [start, stop) into runs of lo..hi; a last run shorter than lo is merged into the one before. Starts: int."""
    lengths = rng.integers(lo, hi + 1, size=(stop - start) // lo + 1)
    starts = start + np.concatenate([[0], np.cumsum(lengths)])
    starts = starts[starts < stop]
    if len(starts) > 1 and stop - starts[-1] < lo:
        starts = starts[:-1]
    return starts


def make_movie(world: World, cfg: SynthConfig, index: int, rng: np.random.Generator) -> Movie:
    G, C_max = len(GENRES), cfg.max_cast
    # -- movie-level latents ----------------------------------------------------------------------
    director = int(rng.integers(NUM_DIRECTORS))
    # Directors have favourite genres, mixed with a uniform prior so that genres stay balanced.
    genre = int(rng.choice(G, p=0.5 * world.director_genres[director] + 0.5 / G))
    genres = rng.random(G) < 0.2
    genres[genre] = True
    writer = int(rng.integers(NUM_WRITERS))
    decade = int(rng.integers(len(DECADES)))
    n_cast = int(rng.integers(cfg.min_cast, C_max + 1))
    cast = rng.choice(world.actor_star.shape[0], size=n_cast, replace=False)
    rel = rng.integers(len(RELATIONSHIPS), size=(n_cast, n_cast))
    relations = np.triu(rel, 1) + np.triu(rel, 1).T
    # Older films hold shots longer; each film deviates a little from its director's habit.
    log_asl = float(
        world.director_log_asl[director]
        + 0.06 * (len(DECADES) - 1 - decade)
        + world.genre_log_asl[genre]
        + rng.normal(0.0, 0.1)
    )
    num_shots = int(rng.integers(cfg.min_shots, cfg.max_shots + 1))

    # -- segments: consecutive shot ranges; each long-enough one is a labelled clip ---------------
    seg_starts = np.concatenate(
        [
            [0],
            np.cumsum(
                rng.integers(
                    cfg.min_clip_shots, cfg.max_clip_shots + 1, size=num_shots // cfg.min_clip_shots + 1
                )
            ),
        ]
    )
    seg_starts = seg_starts[seg_starts < num_shots]
    seg_bounds = np.append(seg_starts, num_shots)
    N = len(seg_starts)
    seg_is_clip = np.diff(seg_bounds) >= cfg.min_clip_shots
    seg_place = rng.integers(len(SCENES), size=N)
    seg_style = rng.integers(len(SPEAKING_STYLES), size=N)
    seg_pair = np.stack([rng.choice(n_cast, size=2, replace=False) for _ in range(N)])

    # -- scenes: runs of shots at one place, never crossing a segment end --------------------------
    scene_starts = np.concatenate(
        [
            _tile(rng, int(a), int(b), cfg.min_scene_shots, cfg.max_scene_shots)
            for a, b in zip(seg_bounds[:-1], seg_bounds[1:])
        ]
    )
    Z = len(scene_starts)
    scene = np.repeat(np.arange(Z), np.diff(np.append(scene_starts, num_shots)))  # [S]
    segment = np.repeat(np.arange(N), np.diff(seg_bounds))  # [S]
    scene_seg = segment[scene_starts]  # [Z]
    at_main = rng.random(Z) < MAIN_PLACE_PROB
    scene_place = np.where(at_main, seg_place[scene_seg], rng.integers(len(PLACES), size=Z))
    topic_mix = 0.65 * world.writer_topics[writer] + 0.35 * world.genre_topics[genre]  # [T]
    scene_topic = rng.choice(topic_mix.shape[0], size=Z, p=topic_mix)
    # Who is in each scene: the focus pair usually, other characters sometimes.
    focus = np.zeros((Z, n_cast), dtype=bool)
    focus[np.arange(Z), seg_pair[scene_seg, 0]] = True
    focus[np.arange(Z), seg_pair[scene_seg, 1]] = True
    in_scene = np.where(focus, rng.random((Z, n_cast)) < 0.8, rng.random((Z, n_cast)) < 0.3)
    empty = ~in_scene.any(axis=1)
    in_scene[empty, seg_pair[scene_seg[empty], 0]] = True

    # -- shots -------------------------------------------------------------------------------------
    S = num_shots
    has = in_scene[scene]  # [S, C]
    is_focus = focus[scene]  # [S, C]
    onscreen = has & (rng.random((S, n_cast)) < 0.5)
    onscreen[rng.random(S) < 0.12] = False  # cut-aways: inserts, establishing shots
    p_dialogue = np.clip(cfg.dialogue_rate + world.genre_dialogue[genre], 0.05, 0.95)
    dialogue = rng.random(S) < p_dialogue
    speaker = _sample_rows(rng, has * (1.0 + is_focus) * (1.0 + 3.0 * onscreen))
    # Focus characters mostly talk to each other; anyone may be addressed (off-screen, by phone).
    partner = np.where(speaker == seg_pair[segment, 0], seg_pair[segment, 1], seg_pair[segment, 0])
    w_addr = 0.05 + has.astype(float)
    w_addr[np.arange(S), partner] += 4.0 * is_focus[np.arange(S), speaker]
    w_addr[np.arange(S), speaker] = 0.0
    addressee = _sample_rows(rng, w_addr)
    # L-cuts: the previous speaker keeps talking while the picture cuts away from them.
    l_cut = np.zeros(S, dtype=bool)
    prev_speaker = np.roll(speaker, 1)
    l_cut[1:] = (
        dialogue[:-1]
        & ~onscreen[np.arange(1, S), prev_speaker[1:]]
        & (scene[1:] == scene[:-1])
        & (rng.random(S - 1) < 0.25)
    )
    l_cut[1:] &= ~l_cut[:-1]  # no L-cut right after another: the carried-over voice is the last shot's own
    dialogue = dialogue | l_cut
    speaker = np.where(l_cut, prev_speaker, speaker)
    addressee = np.where(l_cut, np.roll(addressee, 1), addressee)
    # Dialogue topics: the scene's topic mostly, sometimes another one from the writer/genre mixture.
    topic = np.where(
        rng.random(S) < 0.7, scene_topic[scene], rng.choice(topic_mix.shape[0], size=S, p=topic_mix)
    )
    pair = seg_pair[segment]  # [S, 2]
    between_pair = ((speaker == pair[:, 0]) & (addressee == pair[:, 1])) | (
        (speaker == pair[:, 1]) & (addressee == pair[:, 0])
    )
    relationship_cue = dialogue & between_pair & (rng.random(S) < RELATIONSHIP_CUE_PROB)
    two_shot = onscreen[np.arange(S), pair[:, 0]] & onscreen[np.arange(S), pair[:, 1]] & (rng.random(S) < 0.5)
    # Shot size: the director's framing habit, tighter for dialogue, wider with nobody on screen;
    # a shot often keeps the previous size (shot/reverse-shot), which gives the sequence memory.
    nobody = ~onscreen.any(axis=1)
    size_w = world.director_sizes[director][None, :] * np.where(dialogue[:, None], SIZE_DIALOGUE, 1.0)
    size_w = size_w * np.where(nobody[:, None], SIZE_EMPTY, 1.0)
    size = _sample_rows(rng, size_w)
    keep = (rng.random(S) < 0.3) & np.r_[False, scene[1:] == scene[:-1]]
    source = np.maximum.accumulate(np.where(keep, 0, np.arange(S)))
    size = size[source]
    audio_present = rng.random(S) >= cfg.audio_dropout
    log_dur = log_asl + SIZE_LOG_DURATION[size] + 0.2 * dialogue + rng.normal(0.0, 0.4, S)
    ends = np.cumsum(np.clip(np.exp(log_dur), 0.3, 60.0))
    times = np.stack([np.r_[0.0, ends[:-1]], ends], axis=1)

    # -- engagement of each segment (like ratio, views) ---------------------------------------------
    like_logit = (
        2.3
        + 0.45 * world.director_quality[director]
        + 0.35 * world.writer_quality[writer]
        + world.style_like[seg_style]
        + rng.normal(0.0, 0.3, N)
    )
    seg_like = 1.0 / (1.0 + np.exp(-like_logit))
    stars = world.actor_star[cast[seg_pair]].mean(axis=1)  # [N]
    seg_log_views = (
        11.8
        + 0.35 * (decade - (len(DECADES) - 1) / 2)
        + 0.8 * stars
        + world.genre_popularity[genres].mean()
        + rng.normal(0.0, 0.5, N)
    )
    return Movie(
        index=index, id=movie_id(index), genre=genre, genres=genres, director=director, writer=writer,
        decade=decade, cast=cast, relations=relations, log_asl=log_asl, seg_bounds=seg_bounds,
        seg_is_clip=seg_is_clip, seg_place=seg_place, seg_style=seg_style, seg_pair=seg_pair, seg_like=seg_like,
        seg_log_views=seg_log_views, scene=scene, scene_place=scene_place, scene_topic=scene_topic, segment=segment,
        onscreen=onscreen, dialogue=dialogue, speaker=speaker, addressee=addressee, l_cut=l_cut, topic=topic,
        relationship_cue=relationship_cue, two_shot=two_shot, size=size, audio_present=audio_present, times=times,
    )  # fmt: skip
