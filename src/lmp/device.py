"""One place that turns a device name ('auto', 'cpu', 'cuda', 'cuda:1', ...) into a checked torch.device.

Used by ingestion (encoders, ASR), training and transfer, so that a bad name or a GPU that is not there
fails the same way everywhere: at once, with one line naming the device, instead of deep inside torch.
torch is imported when a device is resolved, not when this module is (`import lmp.encoders` stays light).
"""

from __future__ import annotations

from typing import Any

from lmp.errors import LMPError


class DeviceError(LMPError, ValueError):
    """A device name torch does not know, or a device this machine does not have."""


def resolve_device(device: Any, local_rank: int | None = None) -> Any:
    """'auto' -> 'cuda' when CUDA is available, else 'cpu'; any other name is checked and returned as a
    torch.device.

    With `local_rank` (torchrun's LOCAL_RANK), a bare 'cuda' (or 'auto' on a GPU machine) becomes
    cuda:<local_rank mod device count>, so the processes of one machine use different GPUs; without it a
    bare 'cuda' stays torch's current device. Raises DeviceError for an unknown name, CUDA requested on a
    machine without it, or a CUDA index past the last device.
    """
    import torch

    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise DeviceError(f"bad device {device!r}: {e} (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {device!r} requested but CUDA is not available (torch {torch.__version__}); "
                "use cpu or auto"
            )
        count = torch.cuda.device_count()
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank % max(1, count))
        elif dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {device!r}: this machine has {count} CUDA device(s), cuda:0..{count - 1}")
    return dev
