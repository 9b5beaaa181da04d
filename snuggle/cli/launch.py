"""`snuggle launch`: run a training script on one or several processes/machines (wraps torchrun).

    $ snuggle launch train.py --lr 3e-4                          # one process (or as the config says)
    $ snuggle launch --nproc_per_node 2 train.py                 # 2 processes on this machine
    $ snuggle launch --num_processes 8 --num_machines 2 --machine_rank 0 \\
          --main_process_ip 10.0.0.1 --main_process_port 29500 train.py   # 4 per machine
    $ snuggle launch --mixed_precision bf16 --use_fsdp train.py

Values come from the flags, then the config file (`snuggle config`), then defaults. The
Accelerator in the script reads what launch exports: SNUGGLE_MIXED_PRECISION,
SNUGGLE_GRADIENT_ACCUMULATION_STEPS, SNUGGLE_USE_CPU, SNUGGLE_USE_FSDP, SNUGGLE_FSDP_SHARDING_STRATEGY.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

from snuggle.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("launch", help="run a training script on several processes/machines (torchrun)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_file", "--config-file", default=None, help="config written by `snuggle config`")
    p.add_argument("--num_processes", type=int, default=None, help="total processes over all machines")
    p.add_argument("--nproc_per_node", type=int, default=None, help="processes on this machine (torchrun's flag)")
    p.add_argument("--num_machines", "--nnodes", dest="num_machines", type=int, default=None)
    p.add_argument("--machine_rank", "--node_rank", dest="machine_rank", type=int, default=None)
    p.add_argument("--main_process_ip", "--master_addr", dest="main_process_ip", default=None)
    p.add_argument("--main_process_port", "--master_port", dest="main_process_port", type=int, default=None)
    p.add_argument("--rdzv_backend", default=None, help="torchrun rendezvous backend (static, c10d)")
    p.add_argument("--rdzv_endpoint", default=None)
    p.add_argument("--max_restarts", type=int, default=0)
    p.add_argument("--monitor_interval", type=float, default=None)
    p.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], default=None)
    p.add_argument("--gradient_accumulation_steps", type=int, default=None)
    p.add_argument("--cpu", "--use_cpu", dest="use_cpu", action="store_true", default=None,
                   help="run on CPU even if CUDA is available")
    p.add_argument("--use_fsdp", action="store_true", default=None, help="shard the model with FSDP")
    p.add_argument("--fsdp_sharding_strategy", default=None, help="FULL_SHARD, SHARD_GRAD_OP, NO_SHARD, ...")
    p.add_argument("-m", "--module", action="store_true", help="the script is a python module name")
    p.add_argument("--no_python", action="store_true", help="the script is an executable, not a python file")
    p.add_argument("--dry_run", action="store_true", help="print the command and environment, run nothing")
    p.add_argument("training_script", help="the script (or module) to run")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER, help="arguments of the script")
    p.set_defaults(func=run)


def free_port() -> int:
    """A free TCP port on this machine (the OS picks one for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def resolve(args):
    """Merge flags over the config file; returns (config, processes per machine)."""
    from snuggle.accelerate.config import LaunchConfig, default_config_file

    path = args.config_file
    if path is None and os.path.isfile(default_config_file()):
        path = default_config_file()
    base = LaunchConfig.load(path).to_dict() if path else {}
    for name in ("num_processes", "num_machines", "machine_rank", "main_process_ip", "main_process_port",
                 "mixed_precision", "gradient_accumulation_steps", "use_cpu", "rdzv_backend"):
        value = getattr(args, name)
        if value is not None:
            base[name] = value
    if args.use_fsdp:
        base["distributed_type"] = "FSDP"
        base.setdefault("fsdp_config", {})
    if args.fsdp_sharding_strategy:
        base.setdefault("fsdp_config", {})["fsdp_sharding_strategy"] = args.fsdp_sharding_strategy
        base["distributed_type"] = "FSDP"
    machines = int(base.get("num_machines", 1))
    if args.nproc_per_node is not None:
        if args.num_processes is not None and args.num_processes != args.nproc_per_node * machines:
            raise ConfigError(
                f"--num_processes {args.num_processes} (total) disagrees with --nproc_per_node {args.nproc_per_node} "
                f"x {machines} machines; pass only one of them"
            )
        base["num_processes"] = args.nproc_per_node * machines
    if base.get("distributed_type") in ("MULTI_CPU", "MULTI_GPU", "NO"):
        base.pop("distributed_type")  # re-derived from the (possibly overridden) process count
    config = LaunchConfig.from_dict(base)
    if config.num_processes % config.num_machines:
        raise ConfigError(
            f"num_processes={config.num_processes} is the total over all machines and must be a multiple of "
            f"num_machines={config.num_machines}"
        )
    return config, config.num_processes // config.num_machines


def build_command(args, config, per_node: int) -> tuple[list[str], dict[str, str]]:
    """The command line and the extra environment variables for the run."""
    env = {"SNUGGLE_MIXED_PRECISION": config.mixed_precision}
    if config.gradient_accumulation_steps:
        env["SNUGGLE_GRADIENT_ACCUMULATION_STEPS"] = str(config.gradient_accumulation_steps)
    if config.use_cpu:
        env["SNUGGLE_USE_CPU"] = "true"
    if config.distributed_type == "FSDP":
        env["SNUGGLE_USE_FSDP"] = "true"
        strategy = (config.fsdp_config or {}).get("fsdp_sharding_strategy")
        if strategy is not None:
            env["SNUGGLE_FSDP_SHARDING_STRATEGY"] = str(strategy)
    if args.no_python and args.module:
        raise ConfigError("--module and --no_python cannot be used together")
    if config.num_processes == 1 and config.num_machines == 1:
        if args.no_python:
            target = [args.training_script]
        elif args.module:
            target = [sys.executable, "-m", args.training_script]
        else:
            target = [sys.executable, args.training_script]
        return target + list(args.training_script_args), env
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={per_node}",
           f"--nnodes={config.num_machines}", f"--node_rank={config.machine_rank}",
           f"--max_restarts={args.max_restarts}"]
    if args.monitor_interval is not None:
        cmd.append(f"--monitor_interval={args.monitor_interval}")
    if args.rdzv_endpoint or config.rdzv_backend == "c10d":
        endpoint = args.rdzv_endpoint or f"{config.main_process_ip}:{config.main_process_port or 29500}"
        cmd += ["--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}"]
    else:
        if config.num_machines > 1 and not config.main_process_ip:
            raise ConfigError("several machines need --main_process_ip (the address of machine 0)")
        address = config.main_process_ip or "127.0.0.1"
        port = config.main_process_port or (free_port() if config.num_machines == 1 else 29500)
        cmd += [f"--master_addr={address}", f"--master_port={port}"]
    if args.module:
        cmd.append("--module")
    if args.no_python:
        cmd.append("--no-python")
    cmd.append(args.training_script)
    return cmd + list(args.training_script_args), env


def run(args) -> int:
    config, per_node = resolve(args)
    cmd, extra_env = build_command(args, config, per_node)
    if args.dry_run:
        for key, value in sorted(extra_env.items()):
            print(f"{key}={value}")
        print(" ".join(cmd))
        return 0
    env = {**os.environ, **extra_env}
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130
