"""Device, precision and CPU-thread choices, resolved once per run and recorded in run.json."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps"


@dataclass(frozen=True)
class DevicePlan:
    device: str  # cpu | cuda:N | mps
    precision: str  # fp32 | bf16 | fp16
    threads: int | None
    name: str  # human-readable device name

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "threads": self.threads, "name": self.name}


def _torch() -> Any:
    import torch

    return torch


def cuda_bf16_supported(index: int = 0) -> bool:
    torch = _torch()
    if not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(index)
    return major >= 8


def resolve_device(spec: str = "auto") -> str:
    torch = _torch()
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError("--device mps: Apple MPS is not available on this machine (use cpu or auto)")
        return "mps"
    if spec == "cuda" or spec.startswith("cuda:"):
        index = 0
        if spec.startswith("cuda:"):
            try:
                index = int(spec.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"--device {spec}: expected cuda:N with N a number") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: no CUDA GPU is visible (torch {torch.__version__}; use cpu or auto)")
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return f"cuda:{index}"
    raise ConfigError(f"--device {spec}: unknown device (expected {DEVICE_HELP})")


def resolve_precision(spec: str, device: str) -> str:
    spec = (spec or "auto").lower()
    if spec == "auto":
        if device.startswith("cuda"):
            return "bf16" if cuda_bf16_supported(int(device.split(":")[1])) else "fp16"
        return "fp32"
    if spec == "fp16" and device == "cpu":
        raise ConfigError("--precision fp16 is not supported on CPU (use fp32 or bf16)")
    if spec == "bf16" and device.startswith("cuda") and not cuda_bf16_supported(int(device.split(":")[1])):
        raise ConfigError(f"--precision bf16: {device} does not support bfloat16 (use fp16 or fp32)")
    if spec not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"--precision {spec}: expected auto, fp32, bf16 or fp16")
    return spec


def set_threads(threads: int | None) -> int:
    torch = _torch()
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def plan(device: str = "auto", precision: str = "auto", threads: int | None = None) -> DevicePlan:
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    used = set_threads(threads) if dev == "cpu" or threads else None
    torch = _torch()
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(int(dev.split(":")[1]))
    elif dev == "mps":
        name = "Apple MPS"
    else:
        name = f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
    return DevicePlan(dev, prec, used, name)


def training_arguments(plan: DevicePlan) -> dict[str, Any]:
    """The ``TrainingArguments`` keywords that place training on ``plan``'s device and precision."""
    kwargs: dict[str, Any] = {
        "use_cpu": plan.device == "cpu",
        "bf16": plan.precision == "bf16",
        "fp16": plan.precision == "fp16",
    }
    if plan.device.startswith("cuda:") and plan.device != "cuda:0":
        # Trainer/accelerate train on the current CUDA device; select it before the first CUDA call.
        _torch().cuda.set_device(int(plan.device.split(":")[1]))
    return kwargs


def describe_environment() -> dict[str, Any]:
    """Versions, devices and precision support, for ``tlsuite doctor`` and run.json."""
    torch = _torch()
    import transformers

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [],
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "cpu_bf16": True,
    }
    for mod in ("accelerate", "datasets", "peft", "tlsuite"):
        info[mod] = _version(mod)
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["cuda_devices"].append(
                {
                    "index": i,
                    "name": props.name,
                    "memory_gib": round(props.total_memory / 2**30, 1),
                    "bf16": cuda_bf16_supported(i),
                    "fp16": True,
                }
            )
    return info


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def peak_memory(device: str) -> dict[str, Any]:
    """Peak memory of this process so far: the accelerator's peak allocation, and the process's peak resident set
    (``ru_maxrss``). One training per process gives that training's peak (``compare`` runs each in its own)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict[str, Any] = {"process_peak_rss_mb": round(rss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)}
    torch = _torch()
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        out["cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)
    return out
