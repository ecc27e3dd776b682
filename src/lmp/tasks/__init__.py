"""Transfer: LVU and lmp-format tasks (clip, shot, boundary), probes, fine-tuning, embeddings export.

    from lmp.tasks.features import task_representations   # a labels dir -> {split: (x, y)}
    from lmp.tasks.probe import linear_probe                # plain tensors -> {"val", "test", ...}

Modules: lvu and lvu_tasks (official LVU 1.0 files, the task table), metrics,
heads (losses, scoring), representation_names, loading (a model for a store), features (representations
from a model over a store), selection (the train-and-select-on-val loop), probe (linear / attentive),
finetune, evaluate (one task, one protocol, several seeds), report (tables), embed (export), cli
(`lmp lvu|probe|embed`). lmp's label format itself (tasks, types, metrics) is `lmp.labels`, below this package.
See docs/transfer.md and docs/labels.md.
"""
