"""One-off (run from the repository root): the data study's claim-4 cells (and claim 1's `all` means) for an arm
with model overrides, on the default study corpus (runs/study/movieworld), in runs/study-kcls.

    python docs/results/cls-per-modality/arm.py cls-per-modality 0 '{"model": {"summary_tokens": "per_modality"}}'
    -> pretrains the arm (that seed), probes cls and all for it and its random init (3 probe seeds, 5 label
       fractions), writes NAME-seedS.json beside this file
"""
import json
import sys
from dataclasses import replace

import torch

from lmp.studies.config import StudyConfig
from lmp.studies.runner import load_arm_model, load_corpus, pretrain_arm, probe_all, representations

torch.set_num_threads(1)
name, seed, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
cfg = StudyConfig(out="runs/study-kcls", corpus="runs/study/movieworld")
corpus = load_corpus(cfg)
d = pretrain_arm(cfg, corpus, name, overrides, seed=seed)
fractions = (0.01, 0.05, 0.1, 0.25, 1.0)
res = {}
for arm, rnd in (("pretrained", False), ("random init", True)):
    model = load_arm_model(d, corpus, cfg, random_init=rnd, seed=seed)
    for rep in ("cls", "all"):
        c = replace(cfg, representation=rep)
        r = probe_all(corpus, c, representations(corpus, model, c), fractions)
        res[f"{arm}|{rep}"] = {t: {str(f): v["values"] if "values" in v else v for f, v in per.items()} for t, per in r.items()}
        print(arm, rep, {t: round(per[1.0]["mean"], 3) for t, per in r.items()}, flush=True)
open(f"docs/results/cls-per-modality/{name}-seed{seed}.json", "w").write(json.dumps(res, default=float))
