"""Keep freed host memory in the process during CPU training, so each step reuses its pages.

Why: glibc's malloc gives the free memory at the top of its heap back to the OS once it exceeds a trim
threshold (by default twice the largest block it has served with mmap, so a few tens of MB here), and
serves blocks above its mmap threshold with fresh mappings. A training step frees hundreds of MB of
activations at the end of its backward, so the next step page-faults every one of them in again. On
this project's 2-core VM a minor fault costs ~4 us, and a `base` step at N=128, 4 windows took 6k-44k
of them (the reference step of ../shared/bench, with fewer and more regular allocations, 0-7k): ~0.1 s
of a ~2.6 s step. With the memory kept, both steps fault ~0 times; lmp's step ran 10-17 % faster
(docs/benchmarks.md). PyTorch's CPU tuning guides reach the same end by preloading jemalloc or tcmalloc;
this needs no extra library.

The cost is that the process keeps its peak heap until it exits, which a training process reaches every
step anyway. `run.retain_host_memory: false` leaves glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses more on 64-bit: blocks above this stay mmapped
_TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: never trim less than 2 GiB of free top-of-heap


def retain_freed_memory() -> bool:
    """Tell glibc to keep freed memory (no trimming, no mmap below 32 MiB). Process-wide and idempotent;
    False (and nothing changed) where the C library is not glibc or refuses the setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it; musl's mallopt is a no-op
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # The mmap threshold first: setting either one turns off glibc's dynamic adjustment of both.
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
