"""What HfApi returns: ModelInfo, DatasetInfo, SpaceInfo, RepoSibling, RepoFile, RepoFolder, GitRefs,
GitCommitInfo, RepoUrl, Discussion, ... with the attribute names of huggingface_hub.

Each info class is built from the server's JSON (camelCase keys) with `Cls(**json)`; unknown keys become
attributes as they are, so newer server fields are never lost.

>>> f = RepoFile(path="w.bin", size=3, oid="ab", lfs={"oid": "cd", "size": 3, "pointerSize": 120})
>>> f.blob_id, f.lfs.sha256, f.lfs["pointer_size"]
('ab', 'cd', 120)
>>> parse_datetime("2024-01-02T03:04:05.5Z").isoformat()
'2024-01-02T03:04:05.500000+00:00'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from snuggle.hub import constants
from snuggle.hub.errors import HfUriError


def parse_datetime(value: str) -> datetime:
    """Parse the Hub's `YYYY-MM-DDTHH:MM:SS[.fff...]Z` timestamps into an aware UTC datetime."""
    try:
        if value.endswith("Z"):
            base, _, fraction = value[:-1].partition(".")
            value = f"{base}.{fraction[:6]:0<6}Z"
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError as e:
        raise ValueError(f"Cannot parse '{value}' as a datetime. Date string is expected to follow "
                         "'%Y-%m-%dT%H:%M:%S.%fZ' pattern.") from e


# ---- small dict-compatible records (the reference keeps them dicts for backward compatibility) ----
@dataclass
class LastCommitInfo(dict):
    oid: str
    title: str
    date: datetime

    def __post_init__(self):
        self.update(asdict(self))


@dataclass
class BlobLfsInfo(dict):
    size: int
    sha256: str
    pointer_size: int

    def __post_init__(self):
        self.update(asdict(self))


@dataclass
class BlobSecurityInfo(dict):
    safe: bool
    status: str
    av_scan: dict | None
    pickle_import_scan: dict | None

    def __post_init__(self):
        self.update(asdict(self))


@dataclass
class TransformersInfo(dict):
    auto_model: str
    custom_class: str | None = None
    pipeline_tag: str | None = None
    processor: str | None = None

    def __post_init__(self):
        self.update(asdict(self))


@dataclass
class SafeTensorsInfo(dict):
    parameters: dict[str, int]
    total: int

    def __post_init__(self):
        self.update(asdict(self))


def _last_commit(data: dict | None) -> LastCommitInfo | None:
    if data is None:
        return None
    return LastCommitInfo(oid=data["id"], title=data["title"], date=parse_datetime(data["date"]))


# ---- files ----
@dataclass
class RepoSibling:
    """A file of a repo as listed in repo info (`size`, `blob_id`, `lfs` only with files_metadata=True)."""

    rfilename: str
    size: int | None = None
    blob_id: str | None = None
    lfs: BlobLfsInfo | None = None


def _siblings(items: list[dict] | None) -> list[RepoSibling] | None:
    if items is None:
        return None
    return [
        RepoSibling(
            rfilename=item["rfilename"],
            size=item.get("size"),
            blob_id=item.get("blobId"),
            lfs=BlobLfsInfo(size=item["lfs"]["size"], sha256=item["lfs"]["sha256"],
                            pointer_size=item["lfs"]["pointerSize"]) if item.get("lfs") else None,
        )
        for item in items
    ]


@dataclass
class RepoFile:
    """A file entry of list_repo_tree / get_paths_info (`blob_id` = git oid; `lfs.sha256` for LFS files)."""

    path: str
    size: int
    blob_id: str
    lfs: BlobLfsInfo | None = None
    xet_hash: str | None = None
    last_commit: LastCommitInfo | None = None
    security: BlobSecurityInfo | None = None

    def __init__(self, **kwargs):
        self.path = kwargs.pop("path")
        self.size = kwargs.pop("size")
        self.blob_id = kwargs.pop("oid")
        lfs = kwargs.pop("lfs", None)
        self.lfs = BlobLfsInfo(size=lfs["size"], sha256=lfs["oid"], pointer_size=lfs["pointerSize"]) if lfs else None
        self.xet_hash = kwargs.pop("xetHash", None)
        self.last_commit = _last_commit(kwargs.pop("lastCommit", None) or kwargs.pop("last_commit", None))
        security = kwargs.pop("securityFileStatus", None)
        self.security = None if security is None else BlobSecurityInfo(
            safe=security["status"] == "safe", status=security["status"], av_scan=security["avScan"],
            pickle_import_scan=security["pickleImportScan"])
        # names older code uses
        self.rfilename = self.path
        self.lastCommit = self.last_commit


@dataclass
class RepoFolder:
    """A folder entry of list_repo_tree / get_paths_info (`tree_id` = the folder's oid)."""

    path: str
    tree_id: str
    last_commit: LastCommitInfo | None = None

    def __init__(self, **kwargs):
        self.path = kwargs.pop("path")
        self.tree_id = kwargs.pop("oid")
        self.last_commit = _last_commit(kwargs.pop("lastCommit", None) or kwargs.pop("last_commit", None))


def tree_entry(data: dict) -> RepoFile | RepoFolder:
    """RepoFile or RepoFolder from one tree / paths-info JSON entry."""
    return RepoFile(**data) if data["type"] == "file" else RepoFolder(**data)


# ---- repo infos ----
def _card_data(kind: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    from snuggle.hub import card_data

    return getattr(card_data, kind)(**value, ignore_metadata_errors=True)


def _common_info(self: Any, kwargs: dict) -> None:
    """Fields every repo type shares (camelCase JSON or snake_case keyword)."""
    self.id = kwargs.pop("id")
    self.author = kwargs.pop("author", None)
    self.sha = kwargs.pop("sha", None)
    created_at = kwargs.pop("createdAt", None) or kwargs.pop("created_at", None)
    self.created_at = parse_datetime(created_at) if isinstance(created_at, str) else created_at
    last_modified = kwargs.pop("lastModified", None) or kwargs.pop("last_modified", None)
    self.last_modified = parse_datetime(last_modified) if isinstance(last_modified, str) else last_modified
    self.private = kwargs.pop("private", None)
    self.gated = kwargs.pop("gated", None)
    self.disabled = kwargs.pop("disabled", None)
    self.likes = kwargs.pop("likes", None)
    self.tags = kwargs.pop("tags", None)
    self.trending_score = kwargs.pop("trendingScore", None)
    self.used_storage = kwargs.pop("usedStorage", None)
    self.resource_group = kwargs.pop("resourceGroup", None)
    self.siblings = _siblings(kwargs.pop("siblings", None))


@dataclass
class ModelInfo:
    """A model repo as answered by model_info / list_models (most fields optional; see huggingface_hub)."""

    id: str
    author: str | None
    base_models: list[str] | None
    card_data: Any | None
    children_model_count: int | None
    config: dict | None
    created_at: datetime | None
    disabled: bool | None
    downloads: int | None
    downloads_all_time: int | None
    eval_results: list | None
    gated: Any | None
    gguf: dict | None
    inference: str | None
    inference_provider_mapping: list | None
    last_modified: datetime | None
    library_name: str | None
    likes: int | None
    mask_token: str | None
    model_index: dict | None
    pipeline_tag: str | None
    private: bool | None
    resource_group: dict | None
    safetensors: SafeTensorsInfo | None
    security_repo_status: dict | None
    sha: str | None
    siblings: list[RepoSibling] | None
    spaces: list[str] | None
    tags: list[str] | None
    transformers_info: TransformersInfo | None
    trending_score: int | None
    used_storage: int | None
    widget_data: Any | None

    def __init__(self, **kwargs):
        _common_info(self, kwargs)
        self.downloads = kwargs.pop("downloads", None)
        self.downloads_all_time = kwargs.pop("downloadsAllTime", None)
        self.library_name = kwargs.pop("library_name", None)
        self.gguf = kwargs.pop("gguf", None)
        self.inference = kwargs.pop("inference", None)
        self.inference_provider_mapping = kwargs.pop("inferenceProviderMapping", None)
        self.pipeline_tag = kwargs.pop("pipeline_tag", None)
        self.mask_token = kwargs.pop("mask_token", None)
        self.card_data = _card_data("ModelCardData", kwargs.pop("cardData", None) or kwargs.pop("card_data", None))
        self.widget_data = kwargs.pop("widgetData", None)
        self.model_index = kwargs.pop("model-index", None) or kwargs.pop("model_index", None)
        self.config = kwargs.pop("config", None)
        info = kwargs.pop("transformersInfo", None) or kwargs.pop("transformers_info", None)
        self.transformers_info = TransformersInfo(**info) if info else None
        self.spaces = kwargs.pop("spaces", None)
        safetensors = kwargs.pop("safetensors", None)
        self.safetensors = (SafeTensorsInfo(parameters=safetensors["parameters"], total=safetensors["total"])
                            if safetensors else None)
        self.security_repo_status = kwargs.pop("securityRepoStatus", None)
        self.eval_results = kwargs.pop("evalResults", None) or None
        self.base_models = kwargs.pop("baseModels", None)
        self.children_model_count = kwargs.pop("childrenModelCount", None)
        # camelCase aliases older code reads
        self.lastModified = self.last_modified
        self.cardData = self.card_data
        self.transformersInfo = self.transformers_info
        self.__dict__.update(**kwargs)


@dataclass
class DatasetInfo:
    """A dataset repo as answered by dataset_info / list_datasets."""

    id: str
    author: str | None
    card_data: Any | None
    citation: str | None
    created_at: datetime | None
    description: str | None
    disabled: bool | None
    downloads: int | None
    downloads_all_time: int | None
    gated: Any | None
    last_modified: datetime | None
    likes: int | None
    main_size: int | None
    paperswithcode_id: str | None
    private: bool | None
    resource_group: dict | None
    sha: str | None
    siblings: list[RepoSibling] | None
    tags: list[str] | None
    trending_score: int | None
    used_storage: int | None

    def __init__(self, **kwargs):
        _common_info(self, kwargs)
        self.downloads = kwargs.pop("downloads", None)
        self.downloads_all_time = kwargs.pop("downloadsAllTime", None)
        self.main_size = kwargs.pop("mainSize", None)
        self.paperswithcode_id = kwargs.pop("paperswithcode_id", None)
        self.card_data = _card_data("DatasetCardData",
                                    kwargs.pop("cardData", None) or kwargs.pop("card_data", None))
        self.citation = kwargs.pop("citation", None)
        self.description = kwargs.pop("description", None)
        self.lastModified = self.last_modified
        self.cardData = self.card_data
        self.__dict__.update(**kwargs)


@dataclass
class SpaceInfo:
    """A Space repo as answered by space_info / list_spaces (runtime fields stay raw dicts)."""

    id: str
    author: str | None
    card_data: Any | None
    created_at: datetime | None
    datasets: list[str] | None
    disabled: bool | None
    gated: Any | None
    host: str | None
    last_modified: datetime | None
    likes: int | None
    models: list[str] | None
    private: bool | None
    region: str | None
    resource_group: dict | None
    runtime: Any | None
    sdk: str | None
    sha: str | None
    siblings: list[RepoSibling] | None
    subdomain: str | None
    tags: list[str] | None
    trending_score: int | None
    used_storage: int | None

    def __init__(self, **kwargs):
        _common_info(self, kwargs)
        self.host = kwargs.pop("host", None)
        self.subdomain = kwargs.pop("subdomain", None)
        self.sdk = kwargs.pop("sdk", None)
        self.card_data = _card_data("SpaceCardData", kwargs.pop("cardData", None) or kwargs.pop("card_data", None))
        self.runtime = kwargs.pop("runtime", None) or None
        self.models = kwargs.pop("models", None)
        self.datasets = kwargs.pop("datasets", None)
        self.region = kwargs.pop("region", None)
        self.lastModified = self.last_modified
        self.cardData = self.card_data
        self.__dict__.update(**kwargs)


# ---- refs and history ----
@dataclass
class GitRefInfo:
    """One branch, tag or PR ref: `name`, full `ref` ("refs/heads/main"), `target_commit` sha."""

    name: str
    ref: str
    target_commit: str


@dataclass
class GitRefs:
    """All refs of a repo (`pull_requests` is None unless include_pull_requests=True)."""

    branches: list[GitRefInfo]
    converts: list[GitRefInfo]
    tags: list[GitRefInfo]
    pull_requests: list[GitRefInfo] | None = None


@dataclass
class GitCommitInfo:
    """One commit of list_repo_commits (newest first)."""

    commit_id: str
    authors: list[str]
    created_at: datetime
    title: str
    message: str
    formatted_title: str | None
    formatted_message: str | None


# ---- URLs ----
def _split_repo_path(path: str) -> tuple[str | None, str]:
    """'datasets/ns/name' -> ('dataset', 'ns/name'); 'ns/name' -> ('model', 'ns/name')."""
    parts = [p for p in path.strip("/").split("/") if p]
    repo_type = constants.REPO_TYPE_MODEL
    if parts and parts[0] in constants.REPO_TYPES_MAPPING and len(parts) >= 3:
        repo_type = constants.REPO_TYPES_MAPPING[parts.pop(0)]
    if len(parts) != 2:
        raise ValueError(path)
    return repo_type, "/".join(parts)


class RepoUrl(str):
    """A repo URL (returned by create_repo) that also knows `endpoint`, `namespace`, `repo_name`,
    `repo_id`, `repo_type` and `url`.

    >>> u = RepoUrl("http://127.0.0.1:8080/datasets/alice/data", endpoint="http://127.0.0.1:8080")
    >>> u.repo_type, u.repo_id, u.namespace
    ('dataset', 'alice/data', 'alice')
    """

    def __new__(cls, url: Any, endpoint: str | None = None):
        endpoint = (endpoint or constants.endpoint()).rstrip("/")
        url = str(url)
        if endpoint != constants.DEFAULT_ENDPOINT:
            # a proxy / self-hosted endpoint may be answered with hub URLs: point them at the endpoint
            url = url.replace(constants.DEFAULT_ENDPOINT, endpoint)
        return super().__new__(cls, url)

    def __init__(self, url: Any, endpoint: str | None = None) -> None:
        super().__init__()
        self.endpoint = (endpoint or constants.endpoint()).rstrip("/")
        raw = str(self)
        try:
            if raw.startswith("hf://"):
                repo_type, repo_id = _split_repo_path(raw[len("hf://"):])
            elif "://" in raw:
                base = urlsplit(self.endpoint)
                parts = urlsplit(raw)
                if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(
                        base.path.rstrip("/") + "/"):
                    raise HfUriError(raw, f"the URL is not on the endpoint {self.endpoint}")
                repo_type, repo_id = _split_repo_path(parts.path[len(base.path.rstrip("/")):])
            else:
                repo_type, repo_id = _split_repo_path(raw)
        except ValueError:
            raise HfUriError(raw, "expected '<endpoint>/[datasets/|spaces/]<namespace>/<name>'") from None
        self.namespace, self.repo_name = repo_id.split("/")
        self.repo_id = repo_id
        self.repo_type = repo_type
        self.url = raw

    def __repr__(self) -> str:
        return f"RepoUrl('{self}', endpoint='{self.endpoint}', repo_type='{self.repo_type}', repo_id='{self.repo_id}')"


def repo_url(endpoint: str, repo_id: str, repo_type: str | None) -> str:
    """Web URL of a repo: {endpoint}/[datasets/|spaces/]ns/name."""
    return f"{endpoint.rstrip('/')}/{constants.repo_url_prefix(repo_type)}{repo_id}"


# ---- discussions (minimal) ----
@dataclass
class DiscussionEvent:
    """One event of a discussion (comment, status change, commit, title change), kept raw in `_event`."""

    id: str
    type: str
    created_at: datetime
    author: str
    _event: dict


@dataclass
class Discussion:
    """A discussion or pull request of a repo."""

    title: str
    status: str
    num: int
    repo_id: str
    repo_type: str
    author: str
    is_pull_request: bool
    created_at: datetime
    endpoint: str

    @property
    def git_reference(self) -> str | None:
        """'refs/pr/<num>' for a pull request, else None."""
        return f"refs/pr/{self.num}" if self.is_pull_request else None

    @property
    def url(self) -> str:
        if self.repo_type is None or self.repo_type == constants.REPO_TYPE_MODEL:
            return f"{self.endpoint}/{self.repo_id}/discussions/{self.num}"
        return f"{self.endpoint}/{self.repo_type}s/{self.repo_id}/discussions/{self.num}"


@dataclass
class DiscussionWithDetails(Discussion):
    """A discussion with its events and, for a pull request, target branch, conflicts and diff."""

    events: list[DiscussionEvent]
    conflicting_files: list[str] | bool | None
    target_branch: str | None
    merge_commit_oid: str | None
    diff: str | None


def discussion_event(event: dict) -> DiscussionEvent:
    return DiscussionEvent(id=event["id"], type=event["type"], created_at=parse_datetime(event["createdAt"]),
                           author=(event.get("author") or {}).get("name", "deleted"), _event=event)
