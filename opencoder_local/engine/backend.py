"""Which compute backend llama.cpp actually runs on: Metal, CUDA, another GPU, or the CPU."""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp

_GPU_TYPES = {1, 2}  # ggml_backend_dev_type: GPU, integrated GPU
_PARAMS_LOCK = threading.Lock()


def _ggml() -> ctypes.CDLL | None:
    folder = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml.so", "libggml.dylib", "ggml.dll"):
        if (folder / name).exists():
            lib = ctypes.CDLL(str(folder / name))
            lib.ggml_backend_dev_count.restype = ctypes.c_size_t
            lib.ggml_backend_dev_get.restype = ctypes.c_void_p
            lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
            lib.ggml_backend_dev_type.restype = ctypes.c_int
            lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
            lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
            lib.ggml_backend_reg_name.restype = ctypes.c_char_p
            lib.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
            return lib
    return None


@lru_cache(maxsize=1)
def gpu_backends() -> tuple[str, ...]:
    """Names of the GPU backends this llama.cpp build found devices for, e.g. ("Metal",) or ("CUDA",)."""
    if not llama_cpp.llama_supports_gpu_offload():
        return ()
    lib = _ggml()
    if lib is None:
        return ()
    llama_cpp.llama_backend_init()
    names = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        if lib.ggml_backend_dev_type(dev) in _GPU_TYPES:
            name = lib.ggml_backend_reg_name(lib.ggml_backend_dev_backend_reg(dev)).decode()
            if name not in names:
                names.append(name)
    return tuple(names)


def backend_in_use(n_gpu_layers: int) -> str:
    """What the layers run on: the first GPU backend when any layer is offloaded, else CPU."""
    gpus = gpu_backends()
    if n_gpu_layers != 0 and gpus:
        return gpus[0]
    return "CPU"


@lru_cache(maxsize=1)
def cpu_offers_amx() -> bool:
    """Does this CPU advertise Intel AMX (Xeon 4th generation and later; no laptop chip has it)?"""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return False
    return "amx_tile" in flags.split()


@contextmanager
def model_params(**fields):
    """Llama() with these llama_model_params fields changed (its constructor exposes only some of them)."""
    original = llama_cpp.llama_cpp.llama_model_default_params

    def changed():
        params = original()
        for name, value in fields.items():
            setattr(params, name, value)
        return params

    with _PARAMS_LOCK:
        llama_cpp.llama_cpp.llama_model_default_params = changed
        try:
            yield
        finally:
            llama_cpp.llama_cpp.llama_model_default_params = original


def safe_model_params(**fields):
    """llama_model_params with `fields`, and llama.cpp's extra buffer types off where they would use AMX.

    A build compiled on an AMX machine (pip builds with -march=native) runs its AMX matmul through
    those buffers, and llama.cpp 0.3.36's kernel executes `tilezero` on threads that never loaded
    a tile configuration: SIGILL on the first prompt (measured on this project's Xeon machines).
    Everywhere else (every laptop) the defaults stand, weight repacking included."""
    if cpu_offers_amx():
        fields["use_extra_bufts"] = False
    return model_params(**fields) if fields else nullcontext()
