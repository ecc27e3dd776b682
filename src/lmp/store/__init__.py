"""Shot-level feature store: a directory of per-movie memory-mappable arrays plus a manifest."""

from lmp.store.format import EncoderSpec, MovieRecord
from lmp.store.reader import FeatureStore
from lmp.store.writer import MovieFeatures, StoreWriter

__all__ = ["EncoderSpec", "FeatureStore", "MovieFeatures", "MovieRecord", "StoreWriter"]
