"""MovieWorld: a synthetic movie corpus with known latent causes, written as a real lmp store + labels.

    from lmp.synth import SynthConfig, generate
    out = generate(from_dict(SynthConfig, {"preset": "demo", "out": "runs/mw"}))
    # or on the command line: lmp synth --preset demo --out runs/mw

The generative story, the tasks and the measurements that show what each task needs are in
docs/movieworld.md.
"""

from lmp.synth.config import SynthConfig
from lmp.synth.generate import existing_corpus, generate
from lmp.synth.labels import LVU_TASKS, TASKS

__all__ = ["LVU_TASKS", "TASKS", "SynthConfig", "existing_corpus", "generate"]
