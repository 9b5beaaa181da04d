"""The `snuggle` command: one module per sub-command, dispatched here.

    snuggle --help
    snuggle env
    snuggle tokenizer train --files corpus.txt --vocab-size 8000 --out tok.json
    snuggle tokenizer encode --tokenizer tok.json "some text"
    snuggle demo
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> module with `add_parser(subparsers)`; each module sets `func` on its parser.
_COMMANDS = {
    "env": "snuggle.cli.env",
    "tokenizer": "snuggle.cli.tokenizer",
    "datasets": "snuggle.cli.datasets",
    "demo": "snuggle.cli.demo",
    "launch": "snuggle.cli.launch",
    "config": "snuggle.cli.config",
    "hub": "snuggle.cli.hub",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snuggle",
        description="snuggle: the Hugging Face LLM stack in one fast package.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module in _COMMANDS.items():
        importlib.import_module(module).add_parser(sub)
    return parser


def _version() -> str:
    from snuggle import __version__

    return f"snuggle {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from snuggle.errors import SnuggleError

    try:
        return int(args.func(args) or 0)
    except SnuggleError as e:
        print(f"snuggle: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snuggle: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
