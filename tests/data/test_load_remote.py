"""load_dataset on http(s) URLs (a server on loopback): streaming and cached, same rows as local files."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from snuggle.data import load_dataset
from tests.conftest import DATASETS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    (root / "c4.jsonl").write_bytes((DATASETS / "llamafactory" / "c4_demo.jsonl").read_bytes())
    (root / "imdb.csv").write_bytes((DATASETS / "imdb" / "validation.csv").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


@pytest.mark.parametrize("builder,name", [("json", "c4.jsonl"), ("csv", "imdb.csv")])
def test_remote_equals_local(server, tmp_path, builder, name):
    base, root = server
    local = load_dataset(builder, data_files=str(root / name), split="train", cache_dir=str(tmp_path / "a"))
    remote = load_dataset(builder, data_files=f"{base}/{name}", split="train", cache_dir=str(tmp_path / "b"))
    assert remote.to_list() == local.to_list()
    streamed = load_dataset(builder, data_files=f"{base}/{name}", split="train", streaming=True)
    assert list(streamed) == local.to_list()


def test_remote_cache_reused(server, tmp_path):
    base, _ = server
    a = load_dataset("json", data_files=f"{base}/c4.jsonl", split="train", cache_dir=str(tmp_path))
    b = load_dataset("json", data_files=f"{base}/c4.jsonl", split="train", cache_dir=str(tmp_path))
    assert a.cache_files == b.cache_files and a.num_rows == 300
