"""MovieWorld's tasks, written in lmp's label format by `lmp.labels.write_task` (docs/labels.md).

Clip tasks label each clip (video_id, start_shot, end_shot); the 9 LVU-shaped ones (names and types from
`lmp.tasks.lvu_tasks`, classes from the world) plus multi-label genre. Shot and boundary tasks label
every shot / every boundary between consecutive shots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmp.labels import TaskSpec, write_task
from lmp.synth.story import Movie
from lmp.synth.world import (
    CUT_TYPES,
    DECADES,
    DIRECTORS,
    GENRES,
    RELATIONSHIPS,
    SCENES,
    SHOT_SIZES,
    SPEAKING_STYLES,
    WRITERS,
)
from lmp.tasks.lvu_tasks import LVU_TASKS as _LVU

# LVU's regression targets are centred with LVU's constants (chaoyuaw/lvu), so MovieWorld MSEs are on LVU's scale.
from lmp.tasks.metrics import LIKE_RATIO_OFFSET, VIEW_COUNT_OFFSET

_LVU_CLASSES = {
    "relationship": RELATIONSHIPS,
    "way_speaking": SPEAKING_STYLES,
    "scene": SCENES,
    "director": DIRECTORS,
    "genre": GENRES,
    "writer": WRITERS,
    "year": DECADES,
}
"""MovieWorld's classes for LVU's classification tasks (the regression ones have none)."""

TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        # LVU's nine, in LVU's order, with the type's default metric (accuracy or mse).
        *(TaskSpec(t.name, "clip", t.type, _LVU_CLASSES.get(t.name, ())) for t in _LVU.values()),
        TaskSpec("genre_multilabel", "clip", "multilabel", GENRES, "mAP"),
        TaskSpec("shot_size", "shot", "classification", SHOT_SIZES, "accuracy"),
        # Binary: classes[1] is the positive class scored by AP.
        TaskSpec("scene_boundary", "boundary", "classification", ("same_scene", "new_scene"), "AP"),
        TaskSpec("cut_type", "boundary", "multilabel", CUT_TYPES, "mAP"),
        # Context tasks: the answer for a shot lies minutes away from it (docs/movieworld.md).
        TaskSpec("offscreen_speaker", "shot", "classification", ("focus_character", "side_character"), "AP"),
        TaskSpec("place_return", "shot", "classification", ("new_place", "returning_place"), "AP"),
        # Order: the same shots in another order have the other label (docs/movieworld.md).
        TaskSpec("place_order", "clip", "classification", ("leaves_main_place", "arrives_at_main_place"), "accuracy"),
    )
}
CONTEXT_TASKS = ("offscreen_speaker", "place_return")
"""Shot tasks whose answer needs context far outside the shot (claim 2 and the per-shot ablation)."""
LVU_TASKS = tuple(_LVU)
"""MovieWorld's LVU-shaped clip tasks: LVU's nine, by LVU's names and in its order (their classes are ours)."""


def cut_types(movie: Movie) -> np.ndarray:
    """bool [S - 1, len(CUT_TYPES)]: the kinds of each cut between shot i and i + 1 (none, one or several)."""
    d, sp, on, size = movie.dialogue, movie.speaker, movie.onscreen.any(axis=1), movie.size
    return np.stack(
        [
            d[:-1] & d[1:] & (sp[:-1] != sp[1:]),  # speaker_change
            movie.l_cut[1:],  # l_cut: the voice carries over the cut
            d[:-1] & ~d[1:] & on[1:],  # reaction: a listener after a line
            on[:-1] & ~on[1:],  # cut_away: to an insert / establishing shot
            size[1:] - size[:-1] >= 2,  # emphasis: a jump to a much tighter frame
        ],
        axis=1,
    )


def offscreen_speakers(movie: Movie) -> tuple[np.ndarray, np.ndarray]:
    """Shots with a line whose speaker is not on screen (voice over a listener, an L-cut, a cut-away):
    (shot indices, bool: the speaker is NOT one of the clip's two focus characters, the rarer case
    that AP scores). Only the voice says who it is, and whether that voice belongs to the story's main
    pair is known from earlier shots where the pair was seen speaking."""
    shots = np.flatnonzero(movie.dialogue & ~movie.onscreen[np.arange(movie.num_shots), movie.speaker])
    pair = movie.seg_pair[movie.segment[shots]]  # [n, 2]
    speaker = movie.speaker[shots]
    return shots, (speaker != pair[:, 0]) & (speaker != pair[:, 1])


def place_returns(movie: Movie) -> tuple[np.ndarray, np.ndarray]:
    """First shots of scenes at another place than the scene before: (shot indices, bool: the place was
    already seen in an earlier scene of the movie). The previous scene never answers it, so the
    evidence is at least a scene (tens of seconds to minutes) back."""
    starts = np.flatnonzero(np.r_[True, movie.scene[1:] != movie.scene[:-1]])  # first shot of each scene
    place = movie.scene_place  # [Z], scene z starts at starts[z]
    rows = [z for z in range(1, len(starts)) if place[z] != place[z - 1]]
    seen = [bool(np.isin(place[z], place[: z - 1]).item()) for z in rows]
    return starts[rows], np.array(seen, dtype=bool)


PLACE_RETURN_STRETCHES = 10
"""`place_return` rows are balanced within each tenth of a movie (`balance_by_position`), or in fewer and
longer stretches when a split has under 20 rows a stretch (tiny corpora)."""


def balance_by_position(
    positive: list[bool], where: list[float], rng: np.random.Generator, stretches: int = PLACE_RETURN_STRETCHES
) -> list[int]:
    """Indices of the rows to keep so that a row's place in its movie (`where`, 0 to 1) says nothing of its
    label (`positive`): in each of `stretches` equal stretches of the movies, as many positives as negatives (a seeded
    random subset of the larger class), in the rows' order.

    Why (our choice, 2 Dec 2026): a story returns to its places more often as it goes on (on the default
    corpus 10 % of the scene changes in a movie's first tenth return to a place, 68 % in its last quarter),
    so the shot's index alone read place_return at AP 0.66 against a base rate of 0.49: a reader of where
    the shot is, not of what came before, and a long window can tell where a shot is from the movie's
    edges. Balanced, position reads the base rate, and the task asks only what it should: was this
    place seen before?"""
    positive = np.asarray(positive, bool)
    stretches = max(1, min(stretches, len(positive) // 20))
    stretch = np.minimum((np.asarray(where) * stretches).astype(int), stretches - 1)
    keep: list[int] = []
    for b in range(stretches):
        pos, neg = (np.flatnonzero((stretch == b) & (positive == p)) for p in (True, False))
        k = min(len(pos), len(neg))
        keep += rng.choice(pos, k, replace=False).tolist() + rng.choice(neg, k, replace=False).tolist()
    return sorted(keep)


def place_orders(movie: Movie) -> tuple[np.ndarray, np.ndarray]:
    """Labelled clips that open at their main place and end elsewhere, or open elsewhere and end there:
    (segment indices, bool: the clip arrives at its main place). A clip of the one kind played backwards
    is a clip of the other with the same shots, so the mix of a clip's shots cannot tell them apart; what
    comes first can. Clips that open and end at the main place, or away from it, are not labelled."""
    clips = np.flatnonzero(movie.seg_is_clip)
    place = movie.scene_place[movie.scene]  # [S]; the SCENES are the first PLACES, so seg_place indexes both
    opens = place[movie.seg_bounds[clips]] == movie.seg_place[clips]
    ends = place[movie.seg_bounds[clips + 1] - 1] == movie.seg_place[clips]
    keep = opens != ends
    return clips[keep], ends[keep]


def _noisy(labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    flip = rng.random(labels.shape[0]) < rate
    return np.where(flip, rng.integers(num_classes, size=labels.shape[0]), labels)


def movie_rows(movie: Movie, label_noise: float, rng: np.random.Generator) -> dict[str, list[tuple]]:
    """The rows of every task for one movie: the cells of each level's columns (lmp.labels.COLUMNS)."""
    clips = np.flatnonzero(movie.seg_is_clip)
    starts, ends = movie.seg_bounds[clips], movie.seg_bounds[clips + 1]
    n = clips.shape[0]
    classes = {
        "relationship": movie.relationship[clips],
        "way_speaking": movie.seg_style[clips],
        "scene": movie.seg_place[clips],
        "director": np.full(n, movie.director),
        "genre": np.full(n, movie.genre),
        "writer": np.full(n, movie.writer),
        "year": np.full(n, movie.decade),
    }
    labels: dict[str, list[str]] = {}
    for name, ids in classes.items():
        names = TASKS[name].classes
        labels[name] = [names[i] for i in _noisy(ids, len(names), label_noise, rng)]
    labels["like_ratio"] = [f"{10 * v - LIKE_RATIO_OFFSET:.4f}" for v in movie.seg_like[clips]]
    labels["view_count"] = [f"{v - VIEW_COUNT_OFFSET:.4f}" for v in movie.seg_log_views[clips]]
    labels["genre_multilabel"] = ["|".join(g for g, on in zip(GENRES, movie.genres) if on)] * n
    rows = {
        name: [(movie.id, int(a), int(b), lab) for a, b, lab in zip(starts, ends, labs)]
        for name, labs in labels.items()
    }

    segs, arrives = place_orders(movie)
    order = TASKS["place_order"].classes
    rows["place_order"] = [
        (movie.id, int(movie.seg_bounds[n]), int(movie.seg_bounds[n + 1]), order[int(a)]) for n, a in zip(segs, arrives)
    ]
    rows["shot_size"] = [(movie.id, i, SHOT_SIZES[k]) for i, k in enumerate(movie.size)]
    new_scene = movie.scene[1:] != movie.scene[:-1]
    boundary = TASKS["scene_boundary"].classes
    rows["scene_boundary"] = [(movie.id, i, boundary[int(b)]) for i, b in enumerate(new_scene)]
    for name, (shots, positive) in (
        ("offscreen_speaker", offscreen_speakers(movie)),
        ("place_return", place_returns(movie)),
    ):
        names = TASKS[name].classes
        rows[name] = [(movie.id, int(i), names[int(p)]) for i, p in zip(shots, positive)]
    cuts = cut_types(movie)
    rows["cut_type"] = [
        (movie.id, i, "|".join(c for c, on in zip(CUT_TYPES, row) if on)) for i, row in enumerate(cuts)
    ]
    return rows


def write_tasks(root: Path, rows: dict[str, dict[str, list[tuple]]]) -> dict[str, dict[str, int]]:
    """Write root/<task>/{task.json, train.csv, val.csv, test.csv} of every task; rows[task][split] are
    its rows. Returns the row count per task and split."""
    return {name: write_task(root / name, spec, rows[name]) for name, spec in TASKS.items()}
