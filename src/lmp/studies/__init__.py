"""Studies that test the paper's claims on MovieWorld: data efficiency, long range, ablations."""

from lmp.studies.config import StudyConfig

__all__ = ["StudyConfig"]
