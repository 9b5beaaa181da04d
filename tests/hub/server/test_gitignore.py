"""snuggle.hub.server.gitignore.is_ignored against the real `git check-ignore` on a grid of paths and
.gitignore texts (the test oracle: git itself), plus a few hand-checked cases."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from snuggle.hub.server.gitignore import is_ignored, parse_gitignore

PATHS = [
    "a.txt", "b.log", "c.py", "README.md", "keep.log", "top.txt", "#hash.txt", "!bang.txt", "space .txt",
    "Makefile", "x1.bin", "xa.bin", "xZ.bin", "x-.bin", "x].bin", "abc.c", "abx.c", "data.json", "f?.txt",
    "build/out.o", "build/keep.log", "build/sub/deep.o", "build/sub/deep.txt",
    "src/a.txt", "src/b.log", "src/c.py", "src/build/gen.py", "src/build/keep.log", "src/top.txt",
    "src/lib/x.py", "src/lib/y.log", "src/lib/deep/z.py", "src/lib/deep/keep.log",
    "docs/index.md", "docs/api/ref.md", "docs/api/x.txt", "docs/build/html.html",
    "logs/today/a.log", "logs/today/keep.log", "logs/old.txt", "logs/2024/jan/x.txt",
    "node_modules/pkg/index.js", "node_modules/pkg/keep.log", "sub/node_modules/m.js",
    "a/b/c.py", "a/x/b/c.py", "a/x/y/b/c.py", "a/c.py", "b/c.py", "a/b/d.txt", "a/bc/c.py",
    "foo/bar", "foo/x/bar", "foo/baz.txt", "x/foo/bar", "abfoo/q/c.txt", "abz/c", "abz/y/c", "ab/c",
    "tmp/t1", "tmp.d/t2", "cache/keep/this.txt", "cache/drop.txt", "cache/keep2/that.txt",
    "out/a.bin", "out/b/c.bin", "output.txt", "dir.with.dots/f", "UPPER/X.TXT", "upper/x.txt",
    "model/weights.safetensors", "model/config.json", "model/ckpt/step1.pt", "model/ckpt/final.pt",
    "checkpoint-1/optimizer.pt", "checkpoint-22/model.bin", "checkpoints/best.pt",
    "data/train/part-0.parquet", "data/test/part-0.parquet", "data/raw.csv", "data/sub/raw.csv",
    "1/2/3/4.txt", "q/[x].txt", "q/brk.txt", "e/ending/", "tab\tname.txt", "weird/a b/c d.txt",
    "z/.hidden", ".hidden", ".env", "sub/.env", ".gitattributes",
]
PATHS = [p for p in PATHS if not p.endswith("/")]

PATTERN_SETS = [
    "*.log\n!keep.log\n",
    "build/\n/top.txt\n# a comment\n\\#hash.txt\n\\!bang.txt\n",
    "src/**/*.py\n**/keep.log\n",
    "a/**/b/c.py\n",
    "logs/\n!logs/today/keep.log\n",
    "logs/*\n!logs/today/\nlogs/today/*\n!logs/today/keep.log\n",
    "/build\nnode_modules\n!src/build/\n",
    "x[0-9].bin\nx[!a-z].bin\nx[]-].bin\nab[cd].c\n",
    "*.[ch]\n[[:upper:]]*\n*.[[:digit:]]*\n",
    "f\\?.txt\nspace\\ .txt\nMakefile   \n",
    "ab**/c\nfoo/**\n!foo/baz.txt\n",
    "**/foo/bar\ncache/*\n!cache/keep/\n",
    "out/\n!out/a.bin\n*.bin\n!x1.bin\n",
    "model/ckpt/**\n!model/ckpt/final.pt\ncheckpoint-*/\n*.pt\n!checkpoints/best.pt\n",
    "data/*/\n!data/test/\n.*\n!.gitattributes\n",
    "docs/*.md\ndocs/**/ref.md\n/docs/build\n*.json\r\n!/data.json\r\n",
    "q/[x].txt\nq/\\[x\\].txt\ntmp*\n[a-\n*.tx[t\n",
    "1/*/3\ne?\n**/sub/**\n!**/.env\nweird/a*/\n",
    "*\n!*/\n!*.py\n",
    "[z-a].bin\nx[a-c-e].bin\n*.[!j]son\n[[:alpha:]]*.c\n[[:bogus:]]*.txt\n",
]


def _git_check_ignore(tmp_path, gitignore: str, paths: list[str]) -> set[str]:
    repo = tmp_path / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_bytes(gitignore.encode())
    for p in paths:
        f = repo / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    proc = subprocess.run(["git", "-c", "core.ignorecase=false", "-c", "core.quotepath=off", "check-ignore",
                           "--no-index", "-z", "--stdin"],
                          cwd=repo, input="\0".join(paths).encode() + b"\0", capture_output=True)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return {p for p in proc.stdout.decode().split("\0") if p}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("index", range(len(PATTERN_SETS)))
def test_matches_git_check_ignore(tmp_path, index):
    gitignore = PATTERN_SETS[index]
    expected = _git_check_ignore(tmp_path, gitignore, PATHS)
    got = {p for p in PATHS if is_ignored(p, gitignore)}
    assert got == expected, (f"patterns {gitignore!r}: ignored by us only {sorted(got - expected)}, "
                             f"by git only {sorted(expected - got)}")


def test_grid_is_not_trivial():
    # every set ignores something and keeps something, else the oracle comparison proves little
    for text in PATTERN_SETS:
        flags = [is_ignored(p, text) for p in PATHS]
        assert any(flags) and not all(flags), text


def test_hand_checked_rules():
    assert is_ignored("build/x.o", "build/") and not is_ignored("build", "build/")
    assert is_ignored("sub/top.txt", "top.txt") and not is_ignored("sub/top.txt", "/top.txt")
    assert is_ignored("a/b/c", "a/**/c") and is_ignored("a/c", "a/**/c")
    assert not is_ignored("a/b/c.py", "a/*.py") and is_ignored("a/c.py", "a/*.py")
    assert is_ignored("#x", "\\#x") and not is_ignored("#x", "#x")
    assert not is_ignored("keep.log", "*.log\n!keep.log") and is_ignored("keep.log", "!keep.log\n*.log")
    assert not is_ignored("anything", "") and not is_ignored("anything", None)
    assert [p.text for p in parse_gitignore("# c\n\n  \n*.o\r\n")] == ["  ", "*.o"]
