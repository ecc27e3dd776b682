"""lmp: long-range multimodal pretraining for movie understanding.

`import lmp` stays light: heavy parts (ingestion backends, plotting, the trainer) load on first use.
"""

from lmp.modality import MODALITIES

__version__ = "0.1.0"

__all__ = ["MODALITIES", "LMPModel", "ModelConfig", "FeatureStore", "__version__"]


def __getattr__(name: str):
    # Lazy re-exports keep `import lmp` free of torch until a model or store is needed.
    if name in ("LMPModel", "ModelConfig"):
        from lmp import model

        return getattr(model, name)
    if name == "FeatureStore":
        from lmp.store import FeatureStore

        return FeatureStore
    raise AttributeError(f"module 'lmp' has no attribute {name!r}")
