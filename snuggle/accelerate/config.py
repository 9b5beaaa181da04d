"""The launch config file (`snuggle config` writes it, `snuggle launch` reads it): a YAML file
with accelerate's keys, so an accelerate default_config.yaml works too.

Default location: $SNUGGLE_CONFIG_FILE, else ~/.cache/snuggle/accelerate/default_config.yaml.

>>> cfg = LaunchConfig(num_processes=2)
>>> cfg.distributed_type
'MULTI_CPU'
>>> LaunchConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from snuggle.errors import ConfigError
from snuggle.utils.atomic import atomic_write_text

_DISTRIBUTED_TYPES = ("NO", "MULTI_CPU", "MULTI_GPU", "FSDP")


def default_config_file() -> str:
    env = os.environ.get("SNUGGLE_CONFIG_FILE")
    if env:
        return env
    cache = os.environ.get("SNUGGLE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "snuggle"))
    return os.path.join(cache, "accelerate", "default_config.yaml")


@dataclass
class LaunchConfig:
    """How `snuggle launch` starts a script (accelerate's config keys and meanings)."""

    compute_environment: str = "LOCAL_MACHINE"
    distributed_type: str | None = None  # derived from num_processes / GPUs / fsdp when None
    num_processes: int = 1  # total over all machines, as in accelerate
    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str | None = None
    main_process_port: int | None = None
    mixed_precision: str = "no"
    gradient_accumulation_steps: int | None = None
    use_cpu: bool = False
    gpu_ids: str = "all"
    rdzv_backend: str = "static"
    same_network: bool = True
    main_training_function: str = "main"
    fsdp_config: dict = field(default_factory=dict)
    debug: bool = False

    def __post_init__(self):
        from snuggle.accelerate.utils import check_mixed_precision

        self.mixed_precision = check_mixed_precision(self.mixed_precision)
        for name in ("num_processes", "num_machines"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"config: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= int(self.machine_rank) < int(self.num_machines):
            raise ConfigError(f"config: machine_rank={self.machine_rank} must be in [0, num_machines={self.num_machines})")
        if self.distributed_type is None:
            if self.fsdp_config:
                self.distributed_type = "FSDP"
            elif self.num_processes > 1 or self.num_machines > 1:
                self.distributed_type = "MULTI_GPU" if _has_cuda() and not self.use_cpu else "MULTI_CPU"
            else:
                self.distributed_type = "NO"
        self.distributed_type = str(self.distributed_type).upper()
        if self.distributed_type not in _DISTRIBUTED_TYPES:
            raise ConfigError(
                f"config: distributed_type={self.distributed_type!r} is not supported; expected one of "
                f"{_DISTRIBUTED_TYPES} (DeepSpeed, XLA and Megatron are not implemented)"
            )

    @classmethod
    def from_dict(cls, data: dict) -> LaunchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        # accelerate writes more keys (downcast_bf16, tpu_*, enable_cpu_affinity...): keep the ones we use
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | None = None) -> LaunchConfig:
        import yaml

        path = path or default_config_file()
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found; create one with `snuggle config --default`") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def save(self, path: str | None = None) -> str:
        import yaml

        path = path or default_config_file()
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=True))
        return path


def _has_cuda() -> bool:
    import importlib.util
    import sys

    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()
