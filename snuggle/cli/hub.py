"""`snuggle hub`: run a self-hosted Hub server, manage its users and tokens, and talk to a Hub.

    snuggle hub serve --host 127.0.0.1 --port 8080 --data ./hub-data
    snuggle hub serve --port 8080 --data ./hub-data --workers 4          # 4 processes on one port
    snuggle hub user add alice --data ./hub-data            # last word printed = alice's write token
    snuggle hub user add bob --org acme --data ./hub-data
    snuggle hub token add alice --role read --data ./hub-data
    snuggle hub gc --data ./hub-data --dry-run                 # blobs no commit references any more
    snuggle hub login | logout | whoami | upload | download | repo | ls ...   (client commands)

Server-side commands open the data directory (and database) directly, so they work whether or not a
server is running on it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_CLIENT_COMMANDS = ("login", "logout", "whoami", "upload", "download", "repo", "ls")
_CLIENT_MODULE = "snuggle.cli.hub_client"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("hub", help="Hub server (serve, users, tokens) and Hub client commands")
    sub = p.add_subparsers(dest="hub_command", metavar="<hub command>")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    serve = sub.add_parser("serve", help="run the Hub server (HTTP API compatible with huggingface_hub)")
    _add_storage_args(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--inline-limit", default=None,
                       help="largest file uploaded inline in a commit (bytes or e.g. 512MiB; default 512MiB)")
    serve.add_argument("--max-file-size", default=None, help="largest LFS object (bytes or e.g. 50GB)")
    serve.add_argument("--public-url", default=None,
                       help="base URL clients use (HF_ENDPOINT), for absolute URLs behind a proxy")
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port (default 1; see docs/hub.md, Running a server)")
    serve.set_defaults(func=_serve)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", metavar="<user command>")
    add = user_sub.add_parser("add", help="create a user and print a write token for it (last word)")
    add.add_argument("name")
    add.add_argument("--org", action="append", default=[], help="organisation to add the user to (repeatable)")
    add.add_argument("--fullname", default=None)
    add.add_argument("--email", default=None)
    _add_storage_args(add)
    add.set_defaults(func=_user_add)
    user.set_defaults(func=lambda args: (user.print_help(), 0)[1])

    token = sub.add_parser("token", help="manage access tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="<token command>")
    tadd = token_sub.add_parser("add", help="create a token for a user and print it (last word)")
    tadd.add_argument("user")
    tadd.add_argument("--role", choices=("read", "write"), default="write")
    tadd.add_argument("--name", default=None, help="token name shown by whoami (default: the role)")
    _add_storage_args(tadd)
    tadd.set_defaults(func=_token_add)
    token.set_defaults(func=lambda args: (token.print_help(), 0)[1])

    gc = sub.add_parser("gc", help="delete stored blobs no commit of an existing repo references")
    _add_storage_args(gc)
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument("--grace-seconds", type=float, default=3600.0,
                    help="never remove a blob written or reused this recently, nor an LFS upload not committed "
                         "yet (default 3600: commits and uploads in flight keep their blobs)")
    gc.set_defaults(func=_gc)

    try:
        # the client commands' own parsers, so options may come first (`snuggle hub login --token T`),
        # which an argparse.REMAINDER positional cannot take
        importlib.import_module(_CLIENT_MODULE).add_client_parsers(sub)
        return
    except (ModuleNotFoundError, AttributeError):
        pass
    for name in _CLIENT_COMMANDS:
        c = sub.add_parser(name, help=f"client: {name} (see `snuggle hub {name} --help`)", add_help=False)
        c.add_argument("rest", nargs=argparse.REMAINDER)
        c.set_defaults(func=_delegate, client_command=name)


def _add_storage_args(p) -> None:
    p.add_argument("--data", required=True, help="server data directory (database, blobs, secret)")
    p.add_argument("--database-url", default=None,
                   help="SQLAlchemy URL (default sqlite:///<data>/hub.db; e.g. postgresql+psycopg://...)")


def parse_size(text: str | int | None) -> int | None:
    """'512MiB' -> 536870912; plain integers are bytes.

    >>> parse_size("1KiB"), parse_size("2GB"), parse_size("100")
    (1024, 2000000000, 100)
    """
    if text is None or isinstance(text, int):
        return text
    s = str(text).strip()
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
             "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    low = s.lower()
    for suffix in sorted(units, key=len, reverse=True):
        if low.endswith(suffix):
            number = low[: -len(suffix)].strip()
            try:
                return int(float(number) * units[suffix])
            except ValueError:
                break
    try:
        return int(s)
    except ValueError:
        from snuggle.errors import ConfigError

        raise ConfigError(f"size {text!r}: expected bytes or a number with a unit such as 512MiB or 50GB") from None


def _config(args, **extra):
    from pathlib import Path

    from snuggle.hub.server.config import ServerConfig

    kwargs = {k: v for k, v in extra.items() if v is not None}
    return ServerConfig(data_dir=Path(args.data), database_url=args.database_url, **kwargs)


def _backend(args):
    from snuggle.hub.server.backend import HubBackend

    return HubBackend(_config(args))


def _serve(args) -> int:
    from snuggle.hub.server.server_main import serve

    config = _config(args, inline_limit=parse_size(args.inline_limit), max_file_size=parse_size(args.max_file_size),
                     public_url=args.public_url)
    serve(config, host=args.host, port=args.port, log_level=args.log_level, workers=args.workers)
    return 0


def _user_add(args) -> int:
    backend = _backend(args)
    try:
        backend.add_user(args.name, orgs=args.org, fullname=args.fullname, email=args.email)
        token = backend.create_token(args.name, role="write", name="write")
    finally:
        backend.close()
    orgs = f" (member of {', '.join(args.org)})" if args.org else ""
    print(f"Created user {args.name}{orgs}. Write token (shown once): {token}")
    return 0


def _token_add(args) -> int:
    backend = _backend(args)
    try:
        token = backend.create_token(args.user, role=args.role, name=args.name or args.role)
    finally:
        backend.close()
    print(f"Created {args.role} token for {args.user} (shown once): {token}")
    return 0


def _format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'.

    >>> _format_bytes(0), _format_bytes(1536), _format_bytes(5 * 2**30)
    ('0 B', '1.5 KiB', '5.0 GiB')
    """
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _gc(args) -> int:
    if args.grace_seconds < 0:
        from snuggle.errors import ConfigError

        raise ConfigError(f"--grace-seconds {args.grace_seconds}: expected a number of seconds >= 0")
    from pathlib import Path

    if not Path(args.data).is_dir():
        from snuggle.errors import ConfigError

        raise ConfigError(f"--data {args.data}: no such directory (pass the data directory of `snuggle hub serve`)")
    backend = _backend(args)
    try:
        stats = backend.gc_blobs(grace_seconds=args.grace_seconds, dry_run=args.dry_run)
    finally:
        backend.close()
    verb = "Would remove" if args.dry_run else "Removed"
    print(f"{verb} {stats['removed']} unreferenced blob(s), {stats['bytes_freed']} bytes "
          f"({_format_bytes(stats['bytes_freed'])}); kept {stats['kept']}.")
    if stats["tmp_removed"]:
        print(f"Removed {stats['tmp_removed']} stale temporary file(s).")
    return 0


def _delegate(args) -> int:
    try:
        module = importlib.import_module(_CLIENT_MODULE)
    except ModuleNotFoundError as e:
        if e.name != _CLIENT_MODULE:
            raise
        print(f"snuggle hub {args.client_command}: the Hub client commands are not available in this build "
              f"({_CLIENT_MODULE} is missing).", file=sys.stderr)
        return 2
    return int(module.main([args.client_command, *args.rest]) or 0)
