"""`snuggle config` and `snuggle launch` (command building; the real runs are in test_distributed)."""

from __future__ import annotations

import sys

import pytest
import yaml

from snuggle.accelerate.config import LaunchConfig
from snuggle.cli.main import main
from snuggle.errors import ConfigError


def test_config_default_then_launch_reads_it(tmp_path, capsys, monkeypatch):
    path = tmp_path / "cfg.yaml"
    monkeypatch.setenv("SNUGGLE_CONFIG_FILE", str(tmp_path / "unused.yaml"))
    assert main(["config", "--default", "--config_file", str(path), "--num_processes", "2",
                 "--mixed_precision", "bf16"]) == 0
    data = yaml.safe_load(path.read_text())
    assert data["num_processes"] == 2 and data["mixed_precision"] == "bf16"
    assert data["distributed_type"] in ("MULTI_CPU", "MULTI_GPU") and data["num_machines"] == 1
    capsys.readouterr()
    assert main(["launch", "--config_file", str(path), "--dry_run", "train.py", "--lr", "1e-3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "SNUGGLE_MIXED_PRECISION=bf16" in lines
    cmd = lines[-1].split()
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in cmd and "--nnodes=1" in cmd and cmd[-3:] == ["train.py", "--lr", "1e-3"]
    # flags win over the file
    assert main(["launch", "--config_file", str(path), "--num_processes", "1", "--dry_run", "train.py"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{sys.executable} train.py"


def test_launch_multi_node_flags_pass_through(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SNUGGLE_CONFIG_FILE", str(tmp_path / "none.yaml"))
    assert main(["launch", "--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "4", "--master_addr",
                 "10.0.0.1", "--master_port", "29501", "--use_fsdp", "--fsdp_sharding_strategy", "SHARD_GRAD_OP",
                 "--dry_run", "-m", "pkg.train"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "SNUGGLE_USE_FSDP=true" in out and "SNUGGLE_FSDP_SHARDING_STRATEGY=SHARD_GRAD_OP" in out
    cmd = out[-1].split()
    for flag in ("--nproc_per_node=4", "--nnodes=2", "--node_rank=1", "--master_addr=10.0.0.1",
                 "--master_port=29501", "--module"):
        assert flag in cmd
    assert cmd[-1] == "pkg.train"


def test_launch_errors(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SNUGGLE_CONFIG_FILE", str(tmp_path / "none.yaml"))
    assert main(["launch", "--num_processes", "3", "--nproc_per_node", "2", "--dry_run", "x.py"]) == 2
    assert "disagrees with --nproc_per_node" in capsys.readouterr().err
    assert main(["launch", "--nnodes", "2", "--nproc_per_node", "2", "--dry_run", "x.py"]) == 2
    assert "--main_process_ip" in capsys.readouterr().err
    assert main(["launch", "--config_file", str(tmp_path / "missing.yaml"), "x.py"]) == 2
    assert "snuggle config --default" in capsys.readouterr().err


def test_launch_config_validation_and_accelerate_files():
    with pytest.raises(ConfigError, match="machine_rank=2"):
        LaunchConfig(num_machines=2, machine_rank=2)
    with pytest.raises(ConfigError, match="DEEPSPEED"):
        LaunchConfig(distributed_type="DEEPSPEED")
    # an accelerate default_config.yaml has more keys; they are ignored
    cfg = LaunchConfig.from_dict({"compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_CPU",
                                  "downcast_bf16": "no", "num_processes": 4, "mixed_precision": "no",
                                  "enable_cpu_affinity": False})
    assert cfg.num_processes == 4 and cfg.distributed_type == "MULTI_CPU"


def test_single_process_launch_exports_env(tmp_path, monkeypatch):
    import subprocess

    script = tmp_path / "show.py"
    script.write_text("import os\nprint(os.environ['SNUGGLE_MIXED_PRECISION'], os.environ.get('SNUGGLE_USE_CPU'))\n")
    monkeypatch.setenv("SNUGGLE_CONFIG_FILE", str(tmp_path / "none.yaml"))
    out = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "launch", "--mixed_precision", "bf16", "--cpu",
                          str(script)], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "bf16 true"
