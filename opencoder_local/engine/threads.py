"""How many threads generation should use: the machine's physical performance cores.

llama-cpp-python defaults to half the logical CPUs, which on a machine without SMT leaves
half the cores idle (measured here: 78 tok/s against 123 tok/s with both cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _usable_cpus() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _linux_physical_cores(cpus: set[int]) -> int | None:
    """Count distinct cores among the CPUs we may run on, from sysfs thread siblings."""
    cores = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            return None
    return len(cores) or None


def _mac_performance_cores() -> int | None:
    """Apple Silicon: performance cores only; efficiency cores slow every token down."""
    for key in ("hw.perflevel0.physicalcpu", "hw.physicalcpu"):
        try:
            out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout.strip().isdigit():
            return int(out.stdout.strip())
    return None


def default_threads() -> int:
    """Physical (performance) cores we may use; at least 1."""
    cpus = _usable_cpus()
    if sys.platform == "darwin":
        found = _mac_performance_cores()
    elif sys.platform.startswith("linux"):
        found = _linux_physical_cores(cpus)
    else:
        found = None
    return max(1, min(found or len(cpus), len(cpus)))
