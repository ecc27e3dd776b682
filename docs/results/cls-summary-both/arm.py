"""One-off (run from the repository root after `make study`): an arm with overrides on the study corpus, pretrained
with one seed, its cls and all probed (3 probe seeds, 5 label fractions) -> NAME-seedS.json beside this file.

    python docs/results/cls-summary-both/arm.py sum-both 0 '{"objectives": {"summary": {"target": "both"}}}'
"""
import json
import sys
from dataclasses import replace

import torch

from lmp.studies.config import StudyConfig
from lmp.studies.runner import load_arm_model, load_corpus, pretrain_arm, probe_all, representations

torch.set_num_threads(1)
name, seed, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
cfg = StudyConfig(out="runs/study-kx", corpus="runs/study/movieworld")
corpus = load_corpus(cfg)
d = pretrain_arm(cfg, corpus, name, overrides, seed=seed)
fractions = (0.01, 0.05, 0.1, 0.25, 1.0)
res = {}
model = load_arm_model(d, corpus, cfg, seed=seed)
for rep in ("cls", "all"):
    c = replace(cfg, representation=rep)
    r = probe_all(corpus, c, representations(corpus, model, c), fractions)
    res[f"pretrained|{rep}"] = {t: {str(f): v["values"] for f, v in per.items()} for t, per in r.items()}
    print(rep, {t: round(per[0.01]["mean"], 3) for t, per in r.items()}, flush=True)
open(f"docs/results/cls-summary-both/{name}-seed{seed}.json", "w").write(json.dumps(res, default=float))
