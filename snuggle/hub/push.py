"""push_to_hub for models, configs and tokenizers: save into a temporary folder, then one commit.

    model.push_to_hub("alice/tiny-bert")                 # create the repo if needed, commit "Upload model"
    tokenizer.push_to_hub("alice/tiny-bert")             # "Upload tokenizer"
    model.save_pretrained("out", push_to_hub=True, repo_id="alice/tiny-bert")   # save, then upload "out"

What lands in the repo is exactly what save_pretrained writes (config.json, model.safetensors or shards
+ index, tokenizer files) plus README.md: the repo's card when it has one, else a small generated card
with `library_name: transformers` (the files are in the transformers layout, so the Hub and
`transformers.AutoModel.from_pretrained` treat the repo as such), with any `tags=` added.

Datasets are in snuggle.hub.dataset_push, the Trainer in snuggle.hub.trainer_push.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

DEFAULT_MODEL_DESCRIPTION = (
    "This model card was generated automatically when the model was pushed to the Hub with snuggle."
)


def hub_api(token: str | bool | None = None, endpoint: str | None = None):
    """An HfApi for `endpoint` (default HF_ENDPOINT) with `token` (default: the saved login)."""
    from snuggle.hub.client import HfApi

    return HfApi(endpoint=endpoint, token=token)


def default_commit_message(obj: Any) -> str:
    """ "Upload model" / "Upload tokenizer" / "Upload config" / ... from the object's class name, as the
    reference names its commits.

    >>> class BertForMaskedLM: pass
    >>> default_commit_message(BertForMaskedLM())
    'Upload model'
    """
    name = type(obj).__name__
    for word, message in (("Tokenizer", "Upload tokenizer"), ("Config", "Upload config"),
                          ("FeatureExtractor", "Upload feature extractor"), ("Processor", "Upload processor"),
                          ("Model", "Upload model"), ("For", "Upload model")):
        if word in name:
            return message
    return f"Upload {name}"


def create_and_tag_model_card(repo_id: str, tags: list[str] | None = None, token: str | bool | None = None,
                              endpoint: str | None = None):
    """The repo's ModelCard (or a generated one when the repo has no README.md) with `tags` added."""
    from snuggle.hub.card_data import ModelCardData
    from snuggle.hub.cards import ModelCard
    from snuggle.hub.errors import EntryNotFoundError

    try:
        card = ModelCard.load(repo_id, token=token, **({"endpoint": endpoint} if endpoint else {}))
    except EntryNotFoundError:
        data = ModelCardData(tags=list(tags or []), library_name="transformers")
        card = ModelCard.from_template(data, model_id=repo_id, model_description=DEFAULT_MODEL_DESCRIPTION)
    if tags:
        if card.data.tags is None:
            card.data.tags = []
        for tag in tags:
            if tag not in card.data.tags:
                card.data.tags.append(tag)
    return card


def ensure_repo(api, repo_id: str, *, private: bool | None = None, repo_type: str | None = None,
                revision: str | None = None) -> str:
    """Create `repo_id` when missing (exist_ok; `private` applies only then) and the branch `revision`
    when it is a missing branch name; returns the full repo id ("user/name" for a bare name)."""
    repo_id = api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True).repo_id
    if revision is not None and not revision.startswith("refs/pr/"):
        api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
    return repo_id


def upload_saved_folder(folder: str | os.PathLike, repo_id: str, *, commit_message: str,
                        commit_description: str | None = None, private: bool | None = None,
                        token: str | bool | None = None, revision: str | None = None, create_pr: bool = False,
                        repo_type: str | None = None, endpoint: str | None = None,
                        ignore_patterns: list[str] | None = None):
    """Create `repo_id` if missing and commit every file of `folder` in one commit.

    Returns the CommitInfo (a str: the commit URL) of the new commit.
    """
    api = hub_api(token, endpoint)
    repo_id = ensure_repo(api, repo_id, private=private, repo_type=repo_type, revision=revision)
    return api.upload_folder(
        repo_id=repo_id, folder_path=os.fspath(folder), repo_type=repo_type, revision=revision,
        commit_message=commit_message, commit_description=commit_description, create_pr=create_pr,
        ignore_patterns=ignore_patterns,
    )


def push_to_hub(obj: Any, repo_id: str, *, commit_message: str | None = None,
                commit_description: str | None = None, private: bool | None = None,
                token: str | bool | None = None, revision: str | None = None, create_pr: bool = False,
                max_shard_size: int | str | None = "50GB", safe_serialization: bool = True,
                tags: list[str] | None = None, endpoint: str | None = None, **save_kwargs: Any):
    """Save `obj` (a model, config or tokenizer: anything with save_pretrained) and push it to `repo_id`.

    The repo is created when missing (`private=` applies then); `revision=` commits to that branch
    (created from main when missing); `create_pr=True` opens a pull request instead. Returns the
    CommitInfo of the commit.

    >>> # push_to_hub(model, "alice/tiny-bert", private=True, max_shard_size="200MB")
    """
    api = hub_api(token, endpoint)
    repo_id = ensure_repo(api, repo_id, private=private, revision=revision)
    card = create_and_tag_model_card(repo_id, tags, token=token, endpoint=endpoint)
    with tempfile.TemporaryDirectory(prefix="snuggle-push-") as tmp:
        if _is_model(obj):
            save_kwargs.setdefault("max_shard_size", max_shard_size or "50GB")
            save_kwargs.setdefault("safe_serialization", safe_serialization)
        obj.save_pretrained(tmp, **save_kwargs)
        card.save(os.path.join(tmp, "README.md"))
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision,
                                 commit_message=commit_message or default_commit_message(obj),
                                 commit_description=commit_description, create_pr=create_pr)


def push_saved_directory(obj: Any, save_directory: str | os.PathLike, *, repo_id: str | None = None,
                         commit_message: str | None = None, commit_description: str | None = None,
                         private: bool | None = None, token: str | bool | None = None,
                         revision: str | None = None, create_pr: bool = False, endpoint: str | None = None,
                         **ignored: Any):
    """The second half of save_pretrained(push_to_hub=True): upload `save_directory` to `repo_id`
    (default: the folder's name under the caller's namespace)."""
    if ignored:
        logger.warning(f"push_to_hub: ignoring unknown keyword arguments {sorted(ignored)}")
    repo_id = repo_id or os.path.basename(os.path.normpath(os.fspath(save_directory)))
    return upload_saved_folder(save_directory, repo_id, commit_message=commit_message or default_commit_message(obj),
                               commit_description=commit_description, private=private, token=token,
                               revision=revision, create_pr=create_pr, endpoint=endpoint)


# keyword arguments save_pretrained(push_to_hub=True, ...) hands to the upload, not to the writer
PUSH_KWARGS = ("repo_id", "commit_message", "commit_description", "private", "token", "revision", "create_pr",
               "endpoint")


def split_push_kwargs(kwargs: dict) -> dict:
    """Remove and return the upload keyword arguments from a save_pretrained(**kwargs) dict."""
    return {k: kwargs.pop(k) for k in PUSH_KWARGS if k in kwargs}


def _is_model(obj: Any) -> bool:
    try:
        from snuggle.models.modeling import PreTrainedModel
    except ImportError:  # pragma: no cover - models always ship with snuggle
        return False
    return isinstance(obj, PreTrainedModel)
