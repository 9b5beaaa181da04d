"""`snuggle config`: write the launch config file that `snuggle launch` reads.

    $ snuggle config --default                       # single machine, all local GPUs or 1 CPU process
    $ snuggle config --num_processes 2 --mixed_precision bf16 --config_file my.yaml
    $ snuggle config --show
"""

from __future__ import annotations

import os


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="write the launch config file read by `snuggle launch`")
    p.add_argument("--config_file", "--config-file", default=None,
                   help="where to write (default: $SNUGGLE_CONFIG_FILE or ~/.cache/snuggle/accelerate/default_config.yaml)")
    p.add_argument("--default", action="store_true", help="write the default config without asking anything")
    p.add_argument("--show", action="store_true", help="print the current config file and exit")
    p.add_argument("--num_processes", type=int, default=None, help="total processes over all machines")
    p.add_argument("--num_machines", type=int, default=None)
    p.add_argument("--machine_rank", type=int, default=None)
    p.add_argument("--main_process_ip", default=None)
    p.add_argument("--main_process_port", type=int, default=None)
    p.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    p.add_argument("--distributed_type", choices=["NO", "MULTI_CPU", "MULTI_GPU", "FSDP"], default=None)
    p.add_argument("--use_cpu", action="store_true", default=None)
    p.set_defaults(func=run)


def run(args) -> int:
    from snuggle.accelerate.config import LaunchConfig, default_config_file

    path = args.config_file or default_config_file()
    if args.show:
        with open(path, encoding="utf-8") as f:
            print(f"{path}:\n{f.read()}", end="")
        return 0
    values = {}
    for name in ("num_processes", "num_machines", "machine_rank", "main_process_ip", "main_process_port",
                 "mixed_precision", "distributed_type", "use_cpu"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if "num_processes" not in values and not values.get("use_cpu"):
        values["num_processes"] = _local_gpu_count() or 1
    config = LaunchConfig(**values)
    config.save(path)
    print(f"snuggle config saved at {os.path.abspath(path)}")
    return 0


def _local_gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
