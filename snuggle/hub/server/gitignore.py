"""git's .gitignore rules, for the `shouldIgnore` answer of preupload (spec §8.2).

A pure re-implementation of what `git check-ignore --no-index` decides for a file path against one
.gitignore at the repository root: comments (`#`, escaped `\\#`), trailing spaces (kept when escaped),
negation (`!`), directory-only patterns (trailing `/`), anchored patterns (a `/` at the start or in the
middle), `*`, `?`, `**`, character classes (ranges, `!`/`^` negation, `[:alpha:]`-style classes) and
backslash escapes. As in git, a file inside an ignored directory stays ignored whatever later `!`
patterns say (git never looks inside an excluded directory).

>>> rules = "*.log\\n!keep.log\\nbuild/\\n/top.txt\\n"
>>> [is_ignored(p, rules) for p in ("a.log", "sub/keep.log", "build/x/y.bin", "top.txt", "sub/top.txt")]
[True, False, True, True, False]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_WILDCARDS = "*?[\\"
_NEVER = re.compile(r"(?!)")
# git's sane_ctype classes are ASCII-only
_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9",
    "graph": "\\x21-\\x7e", "lower": "a-z", "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z", "xdigit": "0-9a-fA-F",
}


class _Abort(Exception):
    """A malformed pattern (unterminated class, unknown [:class:], trailing backslash): git's wildmatch
    then never reports a match, so neither do we."""


@dataclass(frozen=True)
class Pattern:
    """One parsed .gitignore line."""

    text: str            # the line as written (for messages)
    negative: bool       # starts with "!"
    dir_only: bool       # ended with "/"
    basename_only: bool  # no "/" in it: matches the last path component at any depth
    regex: re.Pattern

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        subject = path.rsplit("/", 1)[-1] if self.basename_only else path
        return self.regex.fullmatch(subject) is not None


def _class_to_regex(pattern: str, i: int, pathname: bool) -> tuple[str, int]:
    """Translate the class starting after "[" at `i`; (regex, index after the closing "]")."""
    n = len(pattern)
    negated = False
    if i < n and pattern[i] in "!^":
        negated = True
        i += 1
    parts: list[str] = []
    prev: str | None = None
    first = True
    while True:
        if i >= n:
            raise _Abort()
        ch = pattern[i]
        if ch == "]" and not first:
            i += 1
            break
        first = False
        if ch == "\\":
            i += 1
            if i >= n:
                raise _Abort()
            ch = pattern[i]
            parts.append(re.escape(ch))
            prev = ch
        elif ch == "-" and prev is not None and i + 1 < n and pattern[i + 1] != "]":
            i += 1
            hi = pattern[i]
            if hi == "\\":
                i += 1
                if i >= n:
                    raise _Abort()
                hi = pattern[i]
            # as in git, the low end was already matched as a single character (so "[z-a]" matches "z")
            if prev <= hi:
                parts.append(f"{re.escape(prev)}-{re.escape(hi)}")
            prev = None
        elif ch == "[" and i + 1 < n and pattern[i + 1] == ":":
            close = pattern.find("]", i + 2)
            if close < 0:
                raise _Abort()
            if close - (i + 2) < 1 or pattern[close - 1] != ":":
                parts.append(re.escape("["))  # not a [:class:]: a literal "["
                prev = "["
            else:
                name = pattern[i + 2 : close - 1]
                if name not in _POSIX_CLASSES:
                    raise _Abort()
                parts.append(_POSIX_CLASSES[name])
                prev = None
                i = close
        else:
            parts.append(re.escape(ch))
            prev = ch
        i += 1
    body = "".join(parts)
    slash = "/" if pathname else ""
    if negated:
        return f"[^{body}{slash}]", i
    if not body:
        return "(?!)", i
    return (f"(?!/)[{body}]" if pathname else f"[{body}]"), i


def _wildmatch_regex(pattern: str, pathname: bool) -> str:
    """Regex equivalent to git's wildmatch(pattern) (with WM_PATHNAME when `pathname`)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise _Abort()
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif ch == "?":
            out.append("[^/]" if pathname else ".")
            i += 1
        elif ch == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            double = j - i >= 2
            if not pathname:
                out.append(".*")
            elif double and (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/"):
                if j < n:  # "**/": zero or more whole directories
                    out.append("(?:.*/)?")
                    j += 1
                else:  # trailing "**": everything
                    out.append(".*")
            else:
                out.append("[^/]*")
            i = j
        elif ch == "[":
            regex, i = _class_to_regex(pattern, i + 1, pathname)
            out.append(regex)
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def _simple_length(text: str) -> int:
    for k, ch in enumerate(text):
        if ch in _WILDCARDS:
            return k
    return len(text)


def _trim_trailing_spaces(line: str) -> str:
    """Drop unescaped trailing spaces (git's trim_trailing_spaces)."""
    last_space = None
    k = 0
    while k < len(line):
        ch = line[k]
        if ch == " ":
            if last_space is None:
                last_space = k
        elif ch == "\\":
            k += 1
            if k >= len(line):
                return line
            last_space = None
        else:
            last_space = None
        k += 1
    return line if last_space is None else line[:last_space]


def parse_pattern(line: str) -> Pattern | None:
    """One .gitignore line -> Pattern, or None for blank lines and comments."""
    if not line or line.startswith("#"):
        return None
    text = _trim_trailing_spaces(line)
    body = text
    negative = body.startswith("!")
    if negative:
        body = body[1:]
    dir_only = body.endswith("/")
    if dir_only:
        body = body[:-1]
    basename_only = "/" not in body
    try:
        if basename_only:
            regex = re.compile(_wildmatch_regex(body, pathname=False), re.S)
        else:
            # like git: an anchoring leading "/" is dropped, the literal prefix (up to the first wildcard)
            # is compared as is and the rest matched as a pattern of its own ("ab**/c" then has a "**/")
            if body.startswith("/"):
                body = body[1:]
            prefix = _simple_length(body)
            regex = re.compile(re.escape(body[:prefix]) + _wildmatch_regex(body[prefix:], pathname=True), re.S)
    except _Abort:
        regex = _NEVER
    return Pattern(text=line, negative=negative, dir_only=dir_only, basename_only=basename_only, regex=regex)


@lru_cache(maxsize=64)
def parse_gitignore(patterns_text: str) -> tuple[Pattern, ...]:
    """All patterns of a .gitignore text, in file order (CRLF line ends and a UTF-8 BOM are accepted)."""
    text = patterns_text[1:] if patterns_text.startswith("\ufeff") else patterns_text
    out = []
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        pattern = parse_pattern(line)
        if pattern is not None:
            out.append(pattern)
    return tuple(out)


def _excluded(patterns: tuple[Pattern, ...], path: str, is_dir: bool) -> bool:
    for pattern in reversed(patterns):  # the last matching pattern decides
        if pattern.matches(path, is_dir):
            return not pattern.negative
    return False


def is_ignored(path: str, patterns_text: str | None) -> bool:
    """True if git would ignore file `path` (relative, "/"-separated) under a root .gitignore holding
    `patterns_text`: a parent directory is excluded, or the last pattern matching the file is not a
    negation.

    >>> is_ignored("logs/today/a.txt", "logs/\\n!logs/today/a.txt\\n")
    True
    >>> is_ignored("a/b/c.py", "a/**/*.py\\n")
    True
    """
    if not patterns_text:
        return False
    patterns = parse_gitignore(patterns_text)
    if not patterns:
        return False
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        if _excluded(patterns, "/".join(parts[:depth]), True):
            return True
    return _excluded(patterns, "/".join(parts), False)
