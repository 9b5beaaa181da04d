"""`snuggle hub` client commands: login, logout, whoami, upload, download, repo create, ls.

    snuggle hub login --token hf_xxx                 # checked with whoami, saved to $HF_HOME/token
    snuggle hub whoami
    snuggle hub repo create tiny-bert --private
    snuggle hub upload alice/tiny-bert ./out          # a folder (or a file) -> one commit
    snuggle hub upload alice/tiny-bert README.md      # a file, kept at its name
    snuggle hub download alice/tiny-bert              # prints the snapshot folder
    snuggle hub download alice/tiny-bert config.json  # prints the file's path
    snuggle hub ls alice/tiny-bert -R

Every command talks to --endpoint, else HF_ENDPOINT, else https://huggingface.co, with --token, else
HF_TOKEN, else the saved login. Results (paths, URLs, names) go to stdout, one per line, so they can be
captured by scripts; messages go to stderr. `snuggle hub` (snuggle/cli/hub.py) hands these commands to
`main(argv)` here.
"""

from __future__ import annotations

import argparse
import os
import sys

COMMANDS = ("login", "logout", "whoami", "upload", "download", "repo", "ls")


def _common(p: argparse.ArgumentParser, repo_type: bool = True) -> None:
    p.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--token", default=None, help="access token (default: HF_TOKEN or the saved login)")
    if repo_type:
        p.add_argument("--repo-type", choices=("model", "dataset", "space"), default="model")


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser of main(argv): `<command> [arguments]`."""
    parser = argparse.ArgumentParser(prog="snuggle hub", description="Hub client commands")
    add_client_parsers(parser.add_subparsers(dest="command", metavar="<command>", required=True))
    return parser


def add_client_parsers(sub) -> None:
    """Add login, logout, whoami, upload, download, repo, ls to an argparse sub-parsers action (the one of
    `snuggle hub`); each sets `func` (returns the exit status, errors printed and turned into 1)."""
    p = sub.add_parser("login", help="save an access token for this machine")
    _common(p, repo_type=False)
    p.set_defaults(func=_guarded(_login))

    p = sub.add_parser("logout", help="remove the saved token(s)")
    p.add_argument("--token-name", default=None, help="remove only this stored token")
    p.set_defaults(func=_guarded(_logout))

    p = sub.add_parser("whoami", help="print the user the token belongs to")
    _common(p, repo_type=False)
    p.set_defaults(func=_guarded(_whoami))

    p = sub.add_parser("upload", help="upload a file or folder to a repo (one commit)")
    p.add_argument("repo_id")
    p.add_argument("local_path", nargs="?", default=None,
                   help="file or folder (default: the file/folder named like the repo in the current directory)")
    p.add_argument("path_in_repo", nargs="?", default=None,
                   help="destination (default: the file's name, or the repo root for a folder)")
    _common(p)
    p.add_argument("--revision", default=None, help="branch to commit to (created from main if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private if it does not exist")
    p.add_argument("--include", nargs="+", default=None, help="glob patterns of files to upload")
    p.add_argument("--exclude", nargs="+", default=None, help="glob patterns of files not to upload")
    p.add_argument("--delete", nargs="+", default=None,
                   help="glob patterns of remote files to delete in the same commit (e.g. '*.bin')")
    p.add_argument("--commit-message", default=None)
    p.add_argument("--commit-description", default=None)
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.set_defaults(func=_guarded(_upload))

    p = sub.add_parser("download", help="download files (to the cache, or --local-dir) and print the path")
    p.add_argument("repo_id")
    p.add_argument("filenames", nargs="*", help="files to download (default: the whole repo)")
    _common(p)
    p.add_argument("--revision", default=None)
    p.add_argument("--include", nargs="+", default=None)
    p.add_argument("--exclude", nargs="+", default=None)
    p.add_argument("--local-dir", default=None, help="write the files here instead of only into the cache")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--force-download", action="store_true")
    p.set_defaults(func=_guarded(_download))

    p = sub.add_parser("repo", help="manage repositories")
    repo_sub = p.add_subparsers(dest="repo_command", metavar="<repo command>", required=True)
    c = repo_sub.add_parser("create", help="create a repository and print its URL")
    c.add_argument("name", help="NAME (your namespace) or NAMESPACE/NAME")
    _common(c)
    c.add_argument("--private", action="store_true")
    c.add_argument("--exist-ok", action="store_true", help="no error if the repository exists")
    c.add_argument("--organization", default=None, help="namespace to create the repo in (same as NS/NAME)")
    c.set_defaults(func=_guarded(_repo_create))
    d = repo_sub.add_parser("delete", help="delete a repository")
    d.add_argument("repo_id")
    _common(d)
    d.add_argument("--missing-ok", action="store_true")
    d.set_defaults(func=_guarded(_repo_delete))

    p = sub.add_parser("ls", help="list a repo's files (folders end with /)")
    p.add_argument("repo_id")
    p.add_argument("path", nargs="?", default=None, help="folder inside the repo (default: root)")
    _common(p)
    p.add_argument("--revision", default=None)
    p.add_argument("-R", "--recursive", action="store_true", help="list sub-folders too")
    p.add_argument("-l", "--long", action="store_true", help="show sizes")
    p.set_defaults(func=_guarded(_ls))


def _guarded(command):
    """`command` with snuggle errors printed as `snuggle hub <command>: error: ...` and exit status 1."""
    def run(args) -> int:
        from snuggle.errors import SnuggleError

        try:
            return int(command(args) or 0)
        except (SnuggleError, OSError, Exception) as err:
            # Hub errors, files, and the HTTP layer's transport errors (connection refused, timeouts);
            # anything else is a bug and keeps its traceback
            if not isinstance(err, (SnuggleError, OSError)) and not type(err).__module__.startswith("httpx"):
                raise
            name = command.__name__.lstrip("_").replace("_", " ")
            if type(err).__module__.startswith("httpx"):
                from snuggle.hub.constants import endpoint

                err = f"cannot reach the Hub at {getattr(args, 'endpoint', None) or endpoint()} ({err})"
            _err(f"snuggle hub {name}: error: {err}")
            return 1
        except KeyboardInterrupt:
            _err("interrupted")
            return 130

    return run


def _api(args):
    from snuggle.hub.client import HfApi

    return HfApi(endpoint=args.endpoint, token=args.token)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# ------------------------------------------------------------------------------------------ commands


def _login(args) -> int:
    from snuggle.hub.auth import login

    login(token=args.token, endpoint=args.endpoint, skip_if_logged_in=False)
    user = _api(args).whoami(token=args.token) if args.token else None
    _err(f"Login successful{' as ' + user['name'] if user else ''}. Token saved.")
    return 0


def _logout(args) -> int:
    from snuggle.hub.auth import logout

    logout(token_name=args.token_name)
    _err("Logged out.")
    return 0


def _whoami(args) -> int:
    info = _api(args).whoami()
    print(info["name"])
    orgs = [o.get("name") for o in info.get("orgs") or [] if o.get("name")]
    if orgs:
        print(f"orgs: {','.join(orgs)}")
    return 0


def _resolve_upload(repo_id: str, local_path: str | None, path_in_repo: str | None) -> tuple[str, str]:
    """(local path, path in repo), as `hf upload` decides them."""
    name = repo_id.split("/")[-1]
    if local_path is None:
        if os.path.isfile(name):
            return name, path_in_repo or name
        if os.path.isdir(name):
            return name, path_in_repo or "."
        from snuggle.errors import HubError

        raise HubError(f"'{name}' is not a local file or folder: pass LOCAL_PATH (snuggle hub upload {repo_id} PATH)")
    if path_in_repo is None:
        return local_path, os.path.basename(local_path) if os.path.isfile(local_path) else "."
    return local_path, path_in_repo


def _upload(args) -> int:
    from snuggle.errors import HubError
    from snuggle.hub.errors import RevisionNotFoundError

    local, in_repo = _resolve_upload(args.repo_id, args.local_path, args.path_in_repo)
    if not os.path.exists(local):
        raise HubError(f"No such file or directory: '{local}'")
    api = _api(args)
    repo_id = api.create_repo(args.repo_id, repo_type=args.repo_type, private=args.private or None,
                              exist_ok=True).repo_id
    if args.revision is not None and not args.create_pr:
        try:
            api.repo_info(repo_id, repo_type=args.repo_type, revision=args.revision)
        except RevisionNotFoundError:
            api.create_branch(repo_id, branch=args.revision, repo_type=args.repo_type, exist_ok=True)
    common = dict(repo_id=repo_id, repo_type=args.repo_type, revision=args.revision,
                  commit_message=args.commit_message, commit_description=args.commit_description,
                  create_pr=args.create_pr)
    if os.path.isfile(local):
        if args.include or args.exclude or args.delete:
            _err("--include/--exclude/--delete apply to folder uploads; ignored for a single file")
        info = api.upload_file(path_or_fileobj=local, path_in_repo=in_repo, **common)
    else:
        info = api.upload_folder(folder_path=local, path_in_repo=in_repo, allow_patterns=args.include,
                                 ignore_patterns=args.exclude, delete_patterns=args.delete, **common)
    print(str(info))
    return 0


def _download(args) -> int:
    api = _api(args)
    kwargs = dict(repo_type=args.repo_type, revision=args.revision, cache_dir=args.cache_dir,
                  local_dir=args.local_dir, force_download=args.force_download)
    kwargs = {k: v for k, v in kwargs.items() if v not in (None, False)}
    if len(args.filenames) == 1:
        if args.include or args.exclude:
            _err("Ignoring --include/--exclude since filenames have been explicitly set.")
        path = api.hf_hub_download(repo_id=args.repo_id, filename=args.filenames[0], **kwargs)
    else:
        allow, ignore = (args.filenames, None) if args.filenames else (args.include, args.exclude)
        path = api.snapshot_download(repo_id=args.repo_id, allow_patterns=allow, ignore_patterns=ignore, **kwargs)
    print(path)
    return 0


def _repo_create(args) -> int:
    api = _api(args)
    name = f"{args.organization}/{args.name}" if args.organization and "/" not in args.name else args.name
    url = api.create_repo(name, repo_type=args.repo_type, private=args.private or None, exist_ok=args.exist_ok)
    print(str(url))
    return 0


def _repo_delete(args) -> int:
    _api(args).delete_repo(args.repo_id, repo_type=args.repo_type, missing_ok=args.missing_ok)
    _err(f"Deleted {args.repo_id}")
    return 0


def _ls(args) -> int:
    entries = _api(args).list_repo_tree(args.repo_id, path_in_repo=args.path, recursive=args.recursive,
                                        repo_type=args.repo_type, revision=args.revision)
    for entry in entries:
        is_file = hasattr(entry, "size")
        name = entry.path if is_file else entry.path + "/"
        print(f"{entry.size:>12}  {name}" if args.long and is_file else (f"{'':>12}  {name}" if args.long else name))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one client command, e.g. main(["ls", "alice/tiny-bert", "-R"]); returns the exit status.

    Errors print `snuggle hub <command>: error: ...` on stderr and return 1 (as `hf` does).
    """
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
