"""Ingestion: movie files (+ subtitles) -> shot-level features in a store (docs/ingestion.md).

Submodules load their heavy dependencies (PyAV, PySceneDetect, TransNetV2, encoders) only when used:
`decode`, `shots`, `subtitles`, `pipeline`, `cli` (`lmp ingest`), `inspect` (`lmp inspect`).
"""
