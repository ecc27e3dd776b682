"""torch.compile of the Pretrainer over two window shapes in one process, on a given device (the
trainer meets a second shape whenever windows or batch size change; Inductor once asserted there)."""

from __future__ import annotations

import torch

from batches import DIMS, random_batch
from lmp.config import from_dict
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer


def check_compiled_two_shapes(device: str) -> None:
    torch.manual_seed(0)
    pre = Pretrainer(LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS)), from_dict(ObjectivesConfig, {}))
    pre = pre.to(device).train()
    compiled = torch.compile(pre.loss_terms)
    for b, s in ((4, 8), (2, 16), (4, 8)):  # the first shape again: its compiled graph must still serve it
        batch = random_batch(b, s, seed=s, device=device)
        torch.manual_seed(s)
        samples = pre.sample(batch)
        got = compiled(batch, samples)["loss"]
        want = pre.loss_terms(batch, samples)["loss"]
        assert torch.isfinite(got)
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
