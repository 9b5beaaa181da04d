"""snuggle's own client and loaders contact no host but the configured endpoint.

A socket guard (socket.getaddrinfo, socket.socket.connect / connect_ex / sendto, socket.create_connection) refuses
every destination except the endpoint's host:port and records the attempt. Under it, with HF_ENDPOINT set and
none of the opt-out variables the reference libraries need (HF_HUB_DISABLE_TELEMETRY, HF_UPDATE_DOWNLOAD_COUNTS,
DISABLE_SAFETENSORS_CONVERSION, HF_HUB_OFFLINE all unset), the snuggle.hub HfApi calls, hf_hub_download,
snapshot_download, upload_folder, from_pretrained('user/repo') and load_dataset('user/repo') must work and
must never try another host: no telemetry, no download counters, no conversion services.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import minilm_dir
from tests.hub.system._hubhttp import unique_name

OPT_OUTS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
            "HF_UPDATE_DOWNLOAD_COUNTS", "DISABLE_SAFETENSORS_CONVERSION", "DO_NOT_TRACK", "HF_HUB_DISABLE_XET",
            "HF_TOKEN", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "SNUGGLE_DISABLE_PROGRESS_BARS")


class SocketGuard:
    """Allow TCP connections to (host, port) only; record everything else and refuse it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.allowed_ips = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
        self.connections: list[tuple] = []   # allowed connections made (proof the guard saw the traffic)
        self.refused: list[str] = []

    def _check_addr(self, addr) -> None:
        if not isinstance(addr, tuple):  # AF_UNIX paths stay on this machine
            return
        ip, port = str(addr[0]), addr[1]
        if ip in self.allowed_ips and port == self.port:
            self.connections.append((ip, port))
            return
        self.refused.append(f"{ip}:{port}")
        raise ConnectionRefusedError(f"socket guard: connection to {ip}:{port} refused "
                                     f"(only {self.host}:{self.port} is allowed)")

    def install(self, monkeypatch) -> "SocketGuard":
        real_getaddrinfo, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, \
            socket.socket.connect_ex
        real_create_connection, real_sendto = socket.create_connection, socket.socket.sendto
        guard = self

        def getaddrinfo(host, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else (host or "")
            if name and name not in (guard.host, "localhost") and name not in guard.allowed_ips:
                try:
                    if ipaddress.ip_address(name).is_loopback:
                        return real_getaddrinfo(host, *args, **kwargs)
                except ValueError:
                    pass
                guard.refused.append(f"lookup {name}")
                raise socket.gaierror(f"socket guard: lookup of {name!r} refused")
            return real_getaddrinfo(host, *args, **kwargs)

        def connect(self, addr):
            guard._check_addr(addr)
            return real_connect(self, addr)

        def connect_ex(self, addr):
            guard._check_addr(addr)
            return real_connect_ex(self, addr)

        def sendto(self, data, *args):  # datagrams (e.g. UDP telemetry) name their destination last
            guard._check_addr(args[-1])
            return real_sendto(self, data, *args)

        def create_connection(address, *args, **kwargs):
            host, port = address[0], address[1]
            if not (host in (guard.host, "localhost") or host in guard.allowed_ips) or port != guard.port:
                guard.refused.append(f"{host}:{port}")
                raise ConnectionRefusedError(f"socket guard: connection to {host}:{port} refused")
            return real_create_connection(address, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket.socket, "sendto", sendto)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        return self


@pytest.fixture
def guarded(hub_server, monkeypatch, tmp_path):
    """Environment of a fresh user pointed at our server (HF_TOKEN = alice), then the socket guard on."""
    for key in OPT_OUTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    monkeypatch.setenv("SNUGGLE_CACHE", str(tmp_path / "snuggle_cache"))
    parts = urlsplit(hub_server.endpoint)
    from snuggle.hub.http import close_session

    close_session()  # no pooled connection from an earlier test: every connection is made under the guard
    yield SocketGuard(parts.hostname, parts.port).install(monkeypatch)
    close_session()


def test_socket_guard_refuses_other_hosts(guarded):
    import httpx

    with pytest.raises(Exception):
        socket.create_connection(("10.255.255.1", 80), timeout=1)
    with pytest.raises(httpx.TransportError):
        httpx.get("http://127.0.0.1:9/", timeout=1)
    with pytest.raises(httpx.TransportError):
        httpx.get("https://huggingface.co/api/models", timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(ConnectionRefusedError):
        udp.sendto(b"x", ("192.0.2.1", 9))
    assert len(guarded.refused) >= 4
    guarded.refused.clear()


def _assert_only_endpoint(guard: SocketGuard) -> None:
    assert not guard.refused, f"contacted hosts other than the endpoint: {sorted(set(guard.refused))}"
    assert guard.connections, "no connection reached the endpoint: the guard did not see the traffic"


def test_hub_client_contacts_only_the_endpoint(guarded, tmp_path):
    from snuggle import hub

    api = hub.HfApi()
    assert api.whoami()["name"] == "alice"
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}\n')
    (folder / "sub" / "data.bin").write_bytes(b"\x00\x01" * 5000)
    (folder / "README.md").write_text("---\nlicense: mit\ntags:\n- privacy\n---\n# card\n")
    repo_id = f"alice/{unique_name('privacy')}"
    api.create_repo(repo_id, private=True)
    hub.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="upload")
    api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="hello.txt", repo_id=repo_id)
    info = api.model_info(repo_id)
    assert {s.rfilename for s in info.siblings} >= {"config.json", "sub/data.bin", "README.md", "hello.txt"}
    assert set(api.list_repo_files(repo_id)) >= {"README.md", "config.json", "hello.txt", "sub/data.bin"}
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="sub")] == ["sub/data.bin"]
    assert api.file_exists(repo_id, "hello.txt") and not api.file_exists(repo_id, "nope.txt")
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v1")
    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert len(api.list_repo_commits(repo_id)) >= 3
    assert [p.path for p in api.get_paths_info(repo_id, ["hello.txt"])] == ["hello.txt"]
    assert repo_id in [m.id for m in api.list_models(author="alice")]
    path = hub.hf_hub_download(repo_id, "sub/data.bin")
    assert Path(path).read_bytes() == b"\x00\x01" * 5000
    snap = hub.snapshot_download(repo_id, revision="v1")
    assert (Path(snap) / "hello.txt").read_bytes() == b"hello\n"
    api.delete_file("hello.txt", repo_id=repo_id)
    api.delete_repo(repo_id)
    _assert_only_endpoint(guarded)


@pytest.fixture
def tiny_model_folder(tmp_path) -> Path:
    """A tiny random BERT with the MiniLM tokenizer files, saved by snuggle (safetensors)."""
    import torch

    from snuggle.models.bert import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    folder = tmp_path / "tiny-bert"
    BertModel(config).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm_dir() / name, folder / name)
    return folder


def test_loaders_contact_only_the_endpoint(guarded, tiny_model_folder, tmp_path):
    import torch

    from snuggle import AutoModel, AutoTokenizer, hub, load_dataset

    model_id = f"alice/{unique_name('privacy-model')}"
    hub.create_repo(model_id, private=True)
    hub.upload_folder(folder_path=str(tiny_model_folder), repo_id=model_id)
    tok = AutoTokenizer.from_pretrained(model_id)
    model = AutoModel.from_pretrained(model_id)
    with torch.no_grad():
        out = model(**tok(["hello world"], return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 32

    ds_id = f"alice/{unique_name('privacy-data')}"
    hub.create_repo(ds_id, repo_type="dataset", private=True)
    data = tmp_path / "ds"
    (data / "data").mkdir(parents=True)
    (data / "data" / "train.csv").write_text("text,label\nhello,1\nworld,0\n")
    (data / "data" / "test.csv").write_text("text,label\nbye,1\n")
    hub.upload_folder(folder_path=str(data), repo_id=ds_id, repo_type="dataset")
    dd = load_dataset(ds_id, cache_dir=str(tmp_path / "datasets_cache"))
    assert dd["train"]["text"] == ["hello", "world"] and dd["test"].num_rows == 1
    streamed = load_dataset(ds_id, split="train", streaming=True)
    assert [row["text"] for row in streamed] == ["hello", "world"]
    hub.delete_repo(model_id)
    hub.delete_repo(ds_id, repo_type="dataset")
    _assert_only_endpoint(guarded)
