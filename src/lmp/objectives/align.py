"""Inter-modal shot alignment: a shot's contextualised embedding in modality a must pick out the same
shot in modality b among every other shot of its window and of the batch (all ranks).

Dimension legend: b batch, s shots, q query slots per window, p projection width, N = world*b*s keys.

Keys (`keys`, our choice of default): `content` keys are the shots' position-free content embeddings
(lmp.objectives.content), so the query must predict the other modality's *content* from its own
modality and context. With `contextual` keys (the earlier behaviour) both sides are unimodal encoder
outputs, which share the shot-index code and the time embedding (start, duration) of the shot: the
pair is then solvable from position alone (docs/diagnosis-pretraining.md), and no content is learnt.

A query is a shot that has both modalities and whose modality-a embedding is an observation (neither
masked nor hidden). Candidate keys: with content keys every shot that has modality b (its content is
observed even where its encoder input was corrupted); with contextual keys every uncorrupted shot that
has b. Our choices: one projection head per modality for the queries, one joint space for all pairs
(as in ImageBind), one learnable temperature, each pair scored in both directions, and queries drawn
per window (`queries_per_window`, the Pretrainer samples them) while keys are every shot: the
[queries, keys] logits are what costs memory on 30k-shot batches, and hard negatives come from the keys.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.modality import present
from lmp.objectives.content import ContentKeys
from lmp.objectives.contrastive import LogitScale, info_nce, l2norm, window_info_nce
from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad, global_mean, global_offset
from lmp.objectives.heads import ProjectionHead
from lmp.objectives.masking import ShotSample


def pair_name(a: str, b: str) -> str:
    return f"{a}-{b}"


def usable_shots(batch: dict[str, torch.Tensor], m: str, corrupted: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool [b, s]: shots whose modality-m embedding is an observation (present, not corrupted)."""
    return present(batch, m) & ~corrupted[m]


class ShotAlignment(nn.Module):
    def __init__(
        self,
        pairs: tuple[tuple[str, str], ...],
        width: int,
        proj_dim: int,
        temperature: float,
        learn_temperature: bool,
        negatives: str = "window",
        keys: str = "content",
    ) -> None:
        super().__init__()
        self.pairs = pairs
        self.negatives = negatives
        self.keys = keys
        modalities = sorted({m for pair in pairs for m in pair})
        self.heads = nn.ModuleDict({m: ProjectionHead(width, proj_dim) for m in modalities})
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        unimodal: dict[str, torch.Tensor],
        corrupted: dict[str, torch.Tensor],
        queries: dict[str, ShotSample],
        content_keys: ContentKeys | None = None,
    ) -> dict[str, torch.Tensor]:
        """unimodal[m] [b, s, d]; corrupted[m] bool [b, s]; queries["a-b"]: the pair's query shots;
        content_keys: the step's content embeddings (needed when keys="content"; gathered ones too with
        batch negatives).

        Returns {"a-b": loss}, the mean of the a->b and b->a directions.
        """
        scale = self.scale()
        window = self.negatives == "window"  # then only the query's own window competes: no gather
        flat, emb, keys, ok, key_ok = {}, {}, {}, {}, {}
        for m in self.heads:
            b, s, d = unimodal[m].shape
            flat[m] = unimodal[m].reshape(b * s, d)
            ok[m] = usable_shots(batch, m, corrupted).reshape(b * s)  # [b*s]
            if self.keys == "content":
                keys[m] = content_keys.local[m] if window else content_keys.gathered[m]  # [b*s or N, p]
                key_ok[m] = present(batch, m).reshape(b * s)  # its content is observed even where corrupted
            else:
                emb[m] = l2norm(self.heads[m](flat[m]))  # [b*s, p]: every shot is a key
                keys[m] = emb[m] if window else all_gather_with_grad(emb[m])  # [b*s or N, p]
                key_ok[m] = ok[m]
            if not window:
                key_ok[m] = all_gather_no_grad(key_ok[m])  # [N]

        # Both directions of every pair, adjacent, each one problem of a single batched InfoNCE.
        directions = [(qm, km, pair_name(a, b_)) for a, b_ in self.pairs for qm, km in ((a, b_), (b_, a))]
        n_win, q = queries[directions[0][2]].index.shape  # the Pretrainer draws q slots per window for every pair
        s = next(iter(unimodal.values())).shape[1]
        rows, valid = {}, {}
        for a, b_ in self.pairs:
            sample = queries[pair_name(a, b_)]
            local = torch.arange(n_win, device=sample.index.device)[:, None] * s + sample.index  # [b, q]
            rows[pair_name(a, b_)] = local = local.reshape(n_win * q)
            # Samples come from the usable pairs already; re-checking keeps hand-made samples honest.
            valid[pair_name(a, b_)] = sample.valid.reshape(n_win * q) & ok[a][local] & ok[b_][local]
        query = self._queries(directions, rows, flat, emb)  # [D, b*q, p]
        key = torch.stack([keys[km] for _, km, _ in directions])  # [D, b*s or N, p]
        key_valid = torch.stack([key_ok[km] for _, km, _ in directions])  # [D, b*s or N]
        query_valid = torch.stack([valid[pair] for _, _, pair in directions])  # [D, b*q]
        if window:  # the same shot's index within its window is the target: [D, b, q, s] logits
            target = torch.stack([queries[pair].index for _, _, pair in directions])  # [D, b, q]
            nce = window_info_nce(
                query.reshape(len(directions), n_win, q, -1), key.reshape(len(directions), n_win, s, -1), scale,
                target, key_valid.reshape(len(directions), n_win, s), query_valid.reshape(len(directions), n_win, q),
            )  # fmt: skip
        else:
            target = global_offset(n_win * s) + torch.stack([rows[pair] for _, _, pair in directions])  # gathered
            nce = info_nce(query, key, scale, target, key_valid, query_valid)
        both = 0.5 * global_mean(*nce).view(len(self.pairs), 2).sum(1)  # [pairs]: the mean of the two directions
        return dict(zip((pair_name(a, b_) for a, b_ in self.pairs), both.unbind(0)))

    def _queries(
        self, directions: list[tuple[str, str, str]], rows: dict[str, torch.Tensor], flat: dict[str, torch.Tensor],
        emb: dict[str, torch.Tensor],
    ) -> torch.Tensor:  # fmt: skip
        """Unit query embeddings [directions, b*q, p]. With content keys only the query rows go through the
        heads, each modality's head once for all of its directions."""
        out: list[torch.Tensor | None] = [None] * len(directions)
        n = len(next(iter(rows.values())))  # b*q query rows per pair
        for m in self.heads:
            mine = [i for i, (qm, _, _) in enumerate(directions) if qm == m]
            if not mine:
                continue
            if m in emb:  # contextual keys: every shot is embedded already
                pieces = [emb[m][rows[directions[i][2]]] for i in mine]
            else:
                picked = flat[m][torch.cat([rows[directions[i][2]] for i in mine])]
                pieces = l2norm(self.heads[m](picked)).split(n)
            for i, piece in zip(mine, pieces):
                out[i] = piece
        return torch.stack(out)
