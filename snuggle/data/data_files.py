"""Find data files: `data_files` patterns, globs, and split inference from file and folder names.

The rules are the reference's (datasets 5):
- `data_files` may be a str, a list (one "train" split), a dict split -> str|list, or a list of
  {"split": name, "path": str|list}.
- Without `data_files`, a folder is searched for, in order: sharded files
  `data/{split}-00000-of-00001.*`; folders named after a split keyword (`train/`, `data/test/`,
  `my-valid-files/`); file names with a split keyword (`train.csv`, `data/test-0.parquet`,
  `imdb_dev.tsv`); else every file is "train".
- Split keywords: train/training -> train; validation/valid/dev/val -> validation;
  test/testing/eval/evaluation -> test. A keyword counts when it is delimited by one of `-._ `
  or a digit.
- Globs: `*` stays within a folder, `**` spans folders; hidden files/folders (".x") and
  "__x" folders are skipped unless the pattern names them.

>>> sanitize_patterns("a.csv")
{'train': ['a.csv']}
>>> sanitize_patterns({"train": "a.csv", "test": ["b.csv", "c.csv"]})
{'train': ['a.csv'], 'test': ['b.csv', 'c.csv']}
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import Counter
from functools import lru_cache
from pathlib import PurePosixPath

from snuggle.errors import DataError

DEFAULT_SPLIT = "train"
SPLIT_KEYWORDS = {
    "train": ["train", "training"],
    "validation": ["validation", "valid", "dev", "val"],
    "test": ["test", "testing", "eval", "evaluation"],
}
DEFAULT_SPLITS = ["train", "validation", "test"]
KEYWORD_SEPARATORS = "-._ 0-9"  # a character class body: - . _ space digits

SHARDED_SPLIT_PATTERN = "data/{split}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*"
_FILENAME_BASE_PATTERNS = ["**/{keyword}[{sep}]*", "**/*[{sep}]{keyword}[{sep}]*"]
_DIRNAME_BASE_PATTERNS = ["**/{keyword}/**", "**/{keyword}[{sep}]*/**", "**/*[{sep}]{keyword}/**",
                          "**/*[{sep}]{keyword}[{sep}]*/**"]


def _keyword_patterns(base_patterns: list[str]) -> dict[str, list[str]]:
    return {
        split: [p.format(keyword=k, sep=KEYWORD_SEPARATORS) for k in SPLIT_KEYWORDS[split] for p in base_patterns]
        for split in DEFAULT_SPLITS
    }


SPLIT_IN_DIR_NAME_PATTERNS = _keyword_patterns(_DIRNAME_BASE_PATTERNS)
SPLIT_IN_FILE_NAME_PATTERNS = _keyword_patterns(_FILENAME_BASE_PATTERNS)
ALL_FILES_PATTERNS = {"train": ["**"]}
# Tried in this order; the first group that matches any file wins.
DEFAULT_PATTERN_GROUPS = [SPLIT_IN_DIR_NAME_PATTERNS, SPLIT_IN_FILE_NAME_PATTERNS, ALL_FILES_PATTERNS]

FILES_TO_IGNORE = {"README.md", "config.json", "dataset_info.json", "dataset_infos.json", "dummy_data.zip",
                   "dataset_dict.json"}

# Extension -> (builder name, default builder kwargs), for the builders snuggle has.
EXTENSION_TO_BUILDER: dict[str, tuple[str, dict]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".ndjson": ("json", {}),
    ".parquet": ("parquet", {}),
    ".geoparquet": ("parquet", {}),
    ".gpq": ("parquet", {}),
    ".arrow": ("arrow", {}),
    ".txt": ("text", {}),
}
BUILDER_TO_EXTENSIONS: dict[str, list[str]] = {}
for _ext, (_builder, _) in EXTENSION_TO_BUILDER.items():
    BUILDER_TO_EXTENSIONS.setdefault(_builder, []).append(_ext)
ALL_EXTENSIONS = list(EXTENSION_TO_BUILDER)

_SPLIT_NAME_RE = re.compile(r"^\w+(\.\w+)*$")


def sanitize_patterns(patterns) -> dict[str, list[str]]:
    """Normalise the user's `data_files` into {split: [pattern, ...]} ("train" when no split is given)."""
    if isinstance(patterns, dict):
        return {str(k): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in patterns.items()}
    if isinstance(patterns, (str, os.PathLike)):
        return {DEFAULT_SPLIT: [os.fspath(patterns)]}
    if isinstance(patterns, (list, tuple)):
        if any(isinstance(p, dict) for p in patterns):
            for p in patterns:
                if not (isinstance(p, dict) and len(p) == 2 and "split" in p and isinstance(p.get("path"), (str, list))):
                    raise DataError(
                        "data_files: each item of a list of dicts must be {'split': <name>, 'path': <path or list>}; "
                        f"got {p!r}"
                    )
            splits = [p["split"] for p in patterns]
            if len(set(splits)) != len(splits):
                raise DataError(f"data_files: some splits are given twice: {splits}")
            return {str(p["split"]): p["path"] if isinstance(p["path"], list) else [p["path"]] for p in patterns}
        return {DEFAULT_SPLIT: [os.fspath(p) for p in patterns]}
    raise DataError(f"data_files must be a str, a list or a dict of split -> files; got {type(patterns).__name__}")


def contains_wildcards(pattern: str) -> bool:
    return any(c in pattern for c in "*[]?")


@lru_cache(maxsize=512)
def glob_to_regex(pattern: str) -> re.Pattern:
    """Compile a glob into a regex over '/'-separated paths.

    `**` as a whole path segment matches any number of folders (zero included); elsewhere `**`
    acts like `*`. `*` and `?` never cross '/'. `[...]` is a character class (`[!...]` negated).

    >>> bool(glob_to_regex("**/train[-._ 0-9]*").match("data/train-0.csv"))
    True
    >>> bool(glob_to_regex("**/train[-._ 0-9]*").match("training.csv"))
    False
    """
    segments = pattern.split("/")
    out = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_segment_to_regex(segment))
        if not last:
            out.append("/")
    return re.compile("".join(out) + r"\Z", re.S)


def _segment_to_regex(segment: str) -> str:
    parts = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            parts.append("[^/]*")
        elif c == "?":
            parts.append("[^/]")
        elif c == "[":
            end = segment.find("]", i + 2)
            if end == -1:
                parts.append(re.escape(c))
            else:
                body = segment[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                parts.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            parts.append(re.escape(c))
        i += 1
    return "".join(parts)


def _is_hidden_or_special_unrequested(rel_path: str, rel_pattern: str) -> bool:
    """Hidden ('.x') parts and special ('__x') folders count only if the pattern names as many."""
    path, pat = PurePosixPath(rel_path), PurePosixPath(rel_pattern)
    hidden = lambda parts: sum(1 for p in parts if p.startswith(".") and set(p) != {"."})  # noqa: E731
    special = lambda parts: sum(1 for p in parts if p.startswith("__"))  # noqa: E731
    return hidden(path.parts) != hidden(pat.parts) or special(path.parent.parts) != special(pat.parent.parts)


def resolve_pattern(pattern: str, base_path: str, allowed_extensions: list[str] | None = None) -> list[str]:
    """The sorted local files matching `pattern` (relative to `base_path` unless absolute).

    Raises FileNotFoundError (not DataError: callers try several patterns) when nothing matches.

    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp(); _ = pathlib.Path(d, "train.csv").write_text("a\\n1\\n")
    >>> [os.path.basename(p) for p in resolve_pattern("*.csv", d)]
    ['train.csv']
    """
    pattern = os.fspath(pattern)
    if pattern.startswith(("http://", "https://")):
        return [pattern]  # read through fsspec (Range requests when streaming)
    if pattern.startswith("hf://"):  # Hub paths: matched and read through snuggle.hub.HfFileSystem
        from snuggle.hub.hf_file_system import resolve_hf_data_files

        return resolve_hf_data_files(pattern, allowed_extensions)
    if "://" in pattern:
        raise DataError(f"data file {pattern!r}: only local paths and http(s) URLs are supported (Hub paths need snuggle.hub)")
    pattern = os.path.expanduser(pattern)
    full = pattern if os.path.isabs(pattern) else os.path.join(base_path or os.getcwd(), pattern)
    full = os.path.normpath(full)
    posix = full.replace(os.sep, "/")
    ignored = FILES_TO_IGNORE - {os.path.basename(posix)}
    if not contains_wildcards(posix):
        matches = [posix] if os.path.isfile(posix) and os.path.basename(posix) not in ignored else []
    else:
        matches = _glob_files(posix, ignored)
    if allowed_extensions is not None:
        allowed = set(allowed_extensions)
        matches = [p for p in matches if any("." + s in allowed for s in os.path.basename(p).split(".")[1:])]
    if not matches:
        message = f"Unable to find '{pattern}'"
        if not os.path.isabs(pattern):
            message += f" in folder '{base_path or os.getcwd()}'"
        if allowed_extensions is not None:
            message += f" with any supported extension {list(allowed_extensions)}"
        raise FileNotFoundError(message)
    return matches


def _glob_files(posix_pattern: str, ignored: set[str]) -> list[str]:
    segments = posix_pattern.split("/")
    # Walk from the deepest folder that has no wildcard in its path.
    fixed = []
    for segment in segments[:-1]:
        if contains_wildcards(segment):
            break
        fixed.append(segment)
    root = "/".join(fixed) or "/"
    if not os.path.isdir(root):
        return []
    rel_pattern = posix_pattern[len(root):].lstrip("/") if root != "/" else posix_pattern.lstrip("/")
    regex = glob_to_regex(rel_pattern)
    recursive = "**" in rel_pattern or rel_pattern.count("/") > 0
    matches = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for name in filenames:
            rel = rel_dir + name
            if name in ignored or not regex.match(rel):
                continue
            if _is_hidden_or_special_unrequested(rel, rel_pattern):
                continue
            full = f"{root.rstrip('/')}/{rel}"
            if os.path.isfile(full):
                matches.append(full)
        if not recursive:
            dirnames[:] = []
    return sorted(matches)


def resolve_data_files(patterns: dict[str, list[str]], base_path: str,
                       allowed_extensions: list[str] | None = None) -> dict[str, list[str]]:
    """Resolve every split's patterns to files, in pattern order.

    As the reference: a glob matching nothing is skipped, a plain path that does not exist is an
    error; a split left with no file at all is an error naming its patterns and the folder.
    """
    resolved: dict[str, list[str]] = {}
    for split, split_patterns in patterns.items():
        files: list[str] = []
        for pattern in split_patterns:
            try:
                files.extend(resolve_pattern(pattern, base_path, allowed_extensions))
            except FileNotFoundError as e:
                if not contains_wildcards(os.fspath(pattern)):
                    raise DataError(f"data_files[{split!r}]: {e}. Check the path, or pass data_dir= / an absolute path.") from None
        if not files:
            where = base_path or os.getcwd()
            extensions = f" with a supported extension {list(allowed_extensions)}" if allowed_extensions else ""
            raise DataError(f"data_files[{split!r}]: no file matches {split_patterns} in folder '{where}'{extensions}")
        resolved[split] = files
    return resolved


def get_data_patterns(base_path: str) -> dict[str, list[str]]:
    """The split patterns that apply to folder `base_path` (see the module docstring for the order).

    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> for n in ("train.csv", "test.csv"): _ = pathlib.Path(d, n).write_text("a\\n1\\n")
    >>> list(get_data_patterns(d))
    ['train', 'test']
    """
    if not os.path.isdir(base_path):
        raise DataError(f"The directory '{base_path}' does not exist")

    def find(pattern: str) -> list[str]:
        try:
            return resolve_pattern(pattern, base_path)
        except FileNotFoundError:
            return []

    return _infer_split_patterns(find, base_path)


def get_data_patterns_in_paths(paths: list[str], base: str = "") -> dict[str, list[str]]:
    """`get_data_patterns` for a list of repo-relative paths (a Hub repo's files) under folder `base`.

    >>> list(get_data_patterns_in_paths(["README.md", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"]))
    ['train', 'test']
    """
    return _infer_split_patterns(lambda pattern: resolve_pattern_in_paths(pattern, paths, base), base or "/")


def _infer_split_patterns(find, where: str) -> dict[str, list[str]]:
    # `find(pattern)` lists the matching files; the rules are the same for folders and Hub listings
    sharded_files = find(SHARDED_SPLIT_PATTERN.replace("{split}", "*"))
    if sharded_files:
        name_re = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}")
        splits = {name_re.match(os.path.basename(f)).group("split") for f in sharded_files}
        bad = [s for s in splits if not _SPLIT_NAME_RE.match(s)]
        if bad:
            raise DataError(f"{where}: split names must match '\\w+(\\.\\w+)*' but the data files give {sorted(bad)}")
        ordered = [s for s in DEFAULT_SPLITS if s in splits] + sorted(splits - set(DEFAULT_SPLITS))
        return {s: [SHARDED_SPLIT_PATTERN.format(split=s)] for s in ordered}
    for group in DEFAULT_PATTERN_GROUPS:
        found = {split: pats for split, pats in group.items() if any(find(p) for p in pats)}
        if found:
            return found
    raise DataError(f"The directory '{where}' doesn't contain any data files")


def resolve_pattern_in_paths(pattern: str, paths: list[str], base: str = "",
                             allowed_extensions: list[str] | None = None) -> list[str]:
    """The sorted `paths` (repo-relative, '/'-separated) matching `pattern` relative to folder `base`.

    Same rules as `resolve_pattern` on a folder: hidden and `__x` parts only when the pattern names them,
    README.md and other metadata files ignored, extensions filtered. Returns [] when nothing matches.

    >>> resolve_pattern_in_paths("*.csv", ["data/a.csv", "b.csv", ".hidden.csv"], base="")
    ['b.csv']
    >>> resolve_pattern_in_paths("**", ["data/a.csv", "README.md"], base="data")
    ['data/a.csv']
    """
    full = posixpath.normpath(posixpath.join(base, os.fspath(pattern))) if base else posixpath.normpath(pattern)
    full = full.lstrip("/")
    ignored = FILES_TO_IGNORE - {posixpath.basename(full)}
    if not contains_wildcards(full):
        matches = [p for p in paths if p == full and posixpath.basename(p) not in ignored]
    else:
        regex = glob_to_regex(full)
        matches = sorted(p for p in paths if regex.match(p) and posixpath.basename(p) not in ignored
                         and not _is_hidden_or_special_unrequested(p, full))
    if allowed_extensions is not None:
        allowed = set(allowed_extensions)
        matches = [p for p in matches if any("." + s in allowed for s in posixpath.basename(p).split(".")[1:])]
    return matches


def infer_builder_for_files(files: list[str]) -> tuple[str | None, dict]:
    """Pick the builder from the most common extension (ties: parquet, arrow, jsonl, json, csv, then name).

    >>> infer_builder_for_files(["a.tsv", "b.tsv", "c.json"])
    ('csv', {'sep': '\\t'})
    """
    counts = Counter("." + s.lower() for f in files for s in os.path.basename(f).split(".")[1:])
    if not counts:
        return None, {}

    def rank(item):
        ext, n = item
        return (n, ext == ".parquet", ext == ".arrow", ext == ".jsonl", ext == ".json", ext == ".csv", ext)

    for ext, _ in sorted(counts.items(), key=rank, reverse=True):
        if ext in EXTENSION_TO_BUILDER:
            name, kwargs = EXTENSION_TO_BUILDER[ext]
            return name, dict(kwargs)
    return None, {}


def infer_builder(data_files: dict[str, list[str]], path: str | None = None) -> tuple[str, dict]:
    """Infer one builder for all splits; splits of different formats -> DataError."""
    per_split = {split: infer_builder_for_files(files) for split, files in data_files.items()}
    first = next(iter(per_split.values()), (None, {}))
    if any(first != other for other in per_split.values()):
        raise DataError(f"Couldn't infer the same data file format for all splits: {per_split}")
    if not first[0]:
        where = f" in {path}" if path else ""
        raise DataError(f"No supported data files found{where}; supported extensions: {ALL_EXTENSIONS}")
    return first


def filter_by_extensions(data_files: dict[str, list[str]], extensions: list[str]) -> dict[str, list[str]]:
    """Keep the files with one of `extensions` (e.g. drop README-like extras from a folder)."""
    allowed = set(extensions)
    return {
        split: [f for f in files if any("." + s.lower() in allowed for s in os.path.basename(f).split(".")[1:])]
        for split, files in data_files.items()
    }


def files_signature(data_files: dict[str, list[str]]) -> list:
    """(split, path, size, mtime) for every file: what the cache hash covers, so edited files miss the cache."""
    signature = []
    for split, files in data_files.items():
        for f in files:
            if f.startswith(("http://", "https://")):
                from snuggle.data.remote_files import data_file_info

                signature.append((split, f, *data_file_info(f)))
                continue
            st = os.stat(f)
            signature.append((split, os.path.abspath(f), st.st_size, st.st_mtime_ns))
    return signature
