"""lmp: long-range multimodal pretraining for movie understanding.

The Python API (README.md, "Python API"):

    store = lmp.load_store(path)                                   # a FeatureStore
    model = lmp.LMPModel.from_pretrained(dir_or_hub_id)
    vectors = lmp.encode(model, store, movie_id | windows, representation=..., window=...)

`import lmp` stays light: heavy parts (torch, ingestion backends, plotting, the trainer) load on first use.
"""

from lmp.modality import MODALITIES

__version__ = "0.1.0"

__all__ = ["MODALITIES", "FeatureStore", "LMPModel", "ModelConfig", "__version__", "encode", "load_store"]


def __getattr__(name: str):
    # Lazy re-exports keep `import lmp` free of torch until a model or store is needed.
    if name in ("LMPModel", "ModelConfig"):
        from lmp import model

        return getattr(model, name)
    if name == "FeatureStore":
        from lmp.store import FeatureStore

        return FeatureStore
    if name in ("encode", "load_store"):
        from lmp import api

        return getattr(api, name)
    raise AttributeError(f"module 'lmp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
