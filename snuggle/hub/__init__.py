"""snuggle.hub: the huggingface_hub API (client) and a self-hostable Hub server (`snuggle.hub.server`).

>>> from snuggle.hub import HfApi, hf_hub_download           # doctest: +SKIP
>>> api = HfApi(endpoint="http://127.0.0.1:8080", token="hf_...")   # doctest: +SKIP
>>> api.create_repo("alice/tiny", exist_ok=True)               # doctest: +SKIP
>>> path = hf_hub_download("alice/tiny", "config.json")       # doctest: +SKIP

Environment variables (HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_TOKEN, HF_TOKEN_PATH, HF_HUB_OFFLINE,
HF_HUB_DISABLE_PROGRESS_BARS, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT) are read when a call needs
them, not at import as huggingface_hub does. Names resolve lazily: importing this package imports
neither httpx nor the server.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_CLIENT = "snuggle.hub.client"
_INFO = "snuggle.hub.client_info"
_ERRORS = "snuggle.hub.errors"
_COMMITS = "snuggle.hub.commits"
_DOWNLOAD = "snuggle.hub.download"
_CACHE = "snuggle.hub.cache"
_CARDS = "snuggle.hub.cards"

_NAMES = {
    # client [H3]
    "HfApi": _CLIENT,
    "whoami": _CLIENT,
    "create_repo": _CLIENT,
    "delete_repo": _CLIENT,
    "move_repo": _CLIENT,
    "update_repo_settings": _CLIENT,
    "update_repo_visibility": _CLIENT,
    "repo_info": _CLIENT,
    "model_info": _CLIENT,
    "dataset_info": _CLIENT,
    "space_info": _CLIENT,
    "list_models": _CLIENT,
    "list_datasets": _CLIENT,
    "list_spaces": _CLIENT,
    "list_repo_files": _CLIENT,
    "list_repo_tree": _CLIENT,
    "list_repo_refs": _CLIENT,
    "list_repo_commits": _CLIENT,
    "file_exists": _CLIENT,
    "repo_exists": _CLIENT,
    "revision_exists": _CLIENT,
    "get_paths_info": _CLIENT,
    "create_branch": _CLIENT,
    "delete_branch": _CLIENT,
    "create_tag": _CLIENT,
    "delete_tag": _CLIENT,
    "create_discussion": _CLIENT,
    "create_pull_request": _CLIENT,
    "get_repo_discussions": _CLIENT,
    "get_discussion_details": _CLIENT,
    "get_full_repo_name": _CLIENT,
    "auth_check": _CLIENT,
    "create_commit": _CLIENT,
    "upload_file": _CLIENT,
    "upload_folder": _CLIENT,
    "delete_file": _CLIENT,
    "delete_files": _CLIENT,
    "delete_folder": _CLIENT,
    "preupload_lfs_files": _CLIENT,
    "ModelInfo": _INFO,
    "DatasetInfo": _INFO,
    "SpaceInfo": _INFO,
    "RepoSibling": _INFO,
    "RepoFile": _INFO,
    "RepoFolder": _INFO,
    "BlobLfsInfo": _INFO,
    "BlobSecurityInfo": _INFO,
    "LastCommitInfo": _INFO,
    "GitRefs": _INFO,
    "GitRefInfo": _INFO,
    "GitCommitInfo": _INFO,
    "RepoUrl": _INFO,
    "Discussion": _INFO,
    "DiscussionWithDetails": _INFO,
    "DiscussionEvent": _INFO,
    "TransformersInfo": _INFO,
    # auth / http / constants [H3]
    "login": "snuggle.hub.auth",
    "logout": "snuggle.hub.auth",
    "get_token": "snuggle.hub.auth",
    "get_stored_tokens": "snuggle.hub.auth",
    "build_hf_headers": "snuggle.hub.http",
    "get_session": "snuggle.hub.http",
    "close_session": "snuggle.hub.http",
    "hf_raise_for_status": "snuggle.hub.http",
    "is_offline_mode": "snuggle.hub.constants",
    # errors [H3]
    "HfHubHTTPError": _ERRORS,
    "RepositoryNotFoundError": _ERRORS,
    "GatedRepoError": _ERRORS,
    "DisabledRepoError": _ERRORS,
    "RevisionNotFoundError": _ERRORS,
    "EntryNotFoundError": _ERRORS,
    "RemoteEntryNotFoundError": _ERRORS,
    "LocalEntryNotFoundError": _ERRORS,
    "IncompleteSnapshotError": _ERRORS,
    "BadRequestError": _ERRORS,
    "OfflineModeIsEnabled": _ERRORS,
    "LocalTokenNotFoundError": _ERRORS,
    "HFValidationError": _ERRORS,
    "HfUriError": _ERRORS,
    "CacheNotFound": _ERRORS,
    "CorruptedCacheException": _ERRORS,
    "FileMetadataError": _ERRORS,
    "RevisionResolutionError": _ERRORS,
    # commits [H4]
    "CommitOperationAdd": _COMMITS,
    "CommitOperationDelete": _COMMITS,
    "CommitOperationCopy": _COMMITS,
    "CommitInfo": _COMMITS,
    # download / cache [H5]
    "hf_hub_download": _DOWNLOAD,
    "snapshot_download": _DOWNLOAD,
    "hf_hub_url": _DOWNLOAD,
    "get_hf_file_metadata": _DOWNLOAD,
    "HfFileMetadata": _DOWNLOAD,
    "try_to_load_from_cache": _CACHE,
    "cached_assets_path": _CACHE,
    "_CACHED_NO_EXIST": _CACHE,
    "DryRunFileInfo": _DOWNLOAD,
    "scan_cache_dir": "snuggle.hub.cache_scan",
    "HFCacheInfo": "snuggle.hub.cache_scan",
    "CachedRepoInfo": "snuggle.hub.cache_scan",
    "CachedRevisionInfo": "snuggle.hub.cache_scan",
    "CachedFileInfo": "snuggle.hub.cache_scan",
    "DeleteCacheStrategy": "snuggle.hub.cache_scan",
    # cards [H6]
    "RepoCard": _CARDS,
    "ModelCard": _CARDS,
    "DatasetCard": _CARDS,
    "CardData": _CARDS,
    "ModelCardData": _CARDS,
    "DatasetCardData": _CARDS,
    "SpaceCard": _CARDS,
    "SpaceCardData": _CARDS,
    "metadata_eval_result": _CARDS,
    "EvalResult": _CARDS,
    "metadata_load": _CARDS,
    "metadata_save": _CARDS,
    "metadata_update": _CARDS,
    # fsspec filesystem
    "HfFileSystem": "snuggle.hub.hf_file_system",
    "HfFileSystemFile": "snuggle.hub.hf_file_system",
    "HfFileSystemResolvedPath": "snuggle.hub.hf_file_system",
}

_SUBMODULES = frozenset({"constants", "errors", "http", "auth", "client", "commits", "upload", "download", "cache",
                         "cards", "push", "server"})

__getattr__, __dir__ = lazy_exports("snuggle.hub", _NAMES, globals(), _SUBMODULES)
__all__ = sorted(_NAMES)
