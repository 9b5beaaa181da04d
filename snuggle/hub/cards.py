"""Repo cards: README.md with a YAML metadata block — RepoCard, ModelCard, DatasetCard, SpaceCard.

A card is `---\\n<yaml>\\n---\\n<markdown>`. `card.data` is the metadata (a CardData), `card.text` the
markdown, `card.content` the whole file rebuilt from both (keys in their original order, the file's own
line endings), so loading and saving a card changes nothing but what you edited. The YAML block is found
with the same pattern as the Hub's server, so both agree on where metadata ends.

    card = ModelCard.load("alice/tiny-bert")          # README.md from the Hub (or a local path)
    card.data.tags = ["text-classification"]
    card.push_to_hub("alice/tiny-bert")                # validated by the server, then committed

>>> card = RepoCard("---\\nlanguage: en\\nlicense: mit\\n---\\n\\n# My repo\\n")
>>> card.data.to_dict(), card.text
({'language': 'en', 'license': 'mit'}, '\\n# My repo\\n')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from snuggle.hub.card_data import (
    CardData,
    DatasetCardData,
    EvalResult,
    ModelCardData,
    RepoCardError,
    SpaceCardData,
    eval_results_to_model_index,
    model_index_to_eval_results,
    yaml_dump,
)
from snuggle.utils.atomic import atomic_write_text
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

REPOCARD_NAME = "README.md"

# The metadata block: optional leading blank space, a `---` line, the YAML, a closing `---` line.
# Same expression as the Hub server uses when it renders a card, so both split a file identically.
REGEX_YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")

# Small built-in templates for from_template (jinja2). `card_data` is the YAML block; any other
# variable comes from the card data or the keyword arguments, and renders empty when not given.
MODELCARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_id | default("Model Card for Model ID", true) }}

{{ model_summary | default("", true) }}

## Model Details

{{ model_description | default("[More Information Needed]", true) }}

- **Developed by:** {{ developers | default("[More Information Needed]", true) }}
- **Model type:** {{ model_type | default("[More Information Needed]", true) }}
- **Language(s):** {{ language | default("[More Information Needed]", true) }}
- **License:** {{ license | default("[More Information Needed]", true) }}
- **Finetuned from model:** {{ base_model | default("[More Information Needed]", true) }}

## Uses

{{ direct_use | default("[More Information Needed]", true) }}

## Bias, Risks, and Limitations

{{ bias_risks_limitations | default("[More Information Needed]", true) }}

## How to Get Started with the Model

{{ get_started_code | default("[More Information Needed]", true) }}

## Training Details

{{ training_data | default("[More Information Needed]", true) }}

{{ training_procedure | default("", true) }}

## Evaluation

{{ results | default("[More Information Needed]", true) }}
"""

DATASETCARD_TEMPLATE = """---
{{ card_data }}
---

# Dataset Card for {{ pretty_name | default("Dataset Name", true) }}

{{ dataset_summary | default("", true) }}

## Dataset Details

{{ dataset_description | default("[More Information Needed]", true) }}

- **Curated by:** {{ curators | default("[More Information Needed]", true) }}
- **Language(s):** {{ language | default("[More Information Needed]", true) }}
- **License:** {{ license | default("[More Information Needed]", true) }}

## Uses

{{ direct_use | default("[More Information Needed]", true) }}

## Dataset Structure

{{ dataset_structure | default("[More Information Needed]", true) }}

## Dataset Creation

{{ curation_rationale_section | default("[More Information Needed]", true) }}

## Bias, Risks, and Limitations

{{ bias_risks_limitations | default("[More Information Needed]", true) }}
"""


def _detect_line_ending(content: str) -> str | None:
    """The file's line break ("\\r\\n", "\\r" or "\\n"; None without any), decided as the Hub does."""
    cr, lf, crlf = content.count("\r"), content.count("\n"), content.count("\r\n")
    if cr + lf == 0:
        return None
    if crlf == cr and crlf == lf:
        return "\r\n"
    return "\r" if cr > lf else "\n"


def _parse_metadata(content: str) -> tuple[dict | None, str]:
    """(metadata dict or None when there is no YAML block, markdown after the block)."""
    import yaml

    match = REGEX_YAML_BLOCK.search(content)
    if not match:
        return None, content
    try:
        data = yaml.safe_load(match.group(2))
    except yaml.YAMLError as err:
        raise RepoCardError(f"the card's YAML metadata block does not parse: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RepoCardError(f"repo card metadata block should be a dict (a YAML mapping); got {type(data).__name__}")
    return data, content[match.end():]


class RepoCard:
    """Any repo's README.md: `.data` (CardData) + `.text` (markdown).

    >>> RepoCard("no metadata here").data.to_dict()
    {}
    """

    card_data_class = CardData
    default_template = MODELCARD_TEMPLATE
    repo_type = "model"

    def __init__(self, content: str, ignore_metadata_errors: bool = False):
        self.ignore_metadata_errors = ignore_metadata_errors
        self.content = content

    @property
    def content(self) -> str:
        """The whole file: the metadata block (re-dumped from `.data`) followed by `.text`."""
        line_break = _detect_line_ending(self._content) or "\n"
        block = self.data.to_yaml(line_break=line_break, original_order=self._original_order)
        return f"---{line_break}{block}{line_break}---{line_break}{self.text}"

    @content.setter
    def content(self, content: str) -> None:
        self._content = content
        data, self.text = _parse_metadata(content)
        if data is None:
            logger.warning("Repo card metadata block was not found. Setting CardData to empty.")
            data = {}
        self.data = self.card_data_class(**data, ignore_metadata_errors=self.ignore_metadata_errors)
        self._original_order = list(data)

    def __str__(self) -> str:
        return self.content

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.content[:60]!r}...)"

    def save(self, filepath: str | os.PathLike) -> None:
        """Write the card to `filepath` (parents created, written atomically, line endings kept)."""
        atomic_write_text(Path(filepath), str(self))

    @classmethod
    def load(cls, repo_id_or_path: str | os.PathLike, repo_type: str | None = None, token: str | None = None,
             ignore_metadata_errors: bool = False, **download_kwargs: Any):
        """The card of a local file, or the README.md of a Hub repo (`repo_type` defaults to the class's).

        Extra keyword arguments (revision=, endpoint=, cache_dir=, ...) go to hf_hub_download.
        """
        if Path(repo_id_or_path).is_file():
            path = Path(repo_id_or_path)
        elif isinstance(repo_id_or_path, str):
            from snuggle.hub.download import hf_hub_download

            path = Path(hf_hub_download(repo_id_or_path, REPOCARD_NAME, repo_type=repo_type or cls.repo_type,
                                        token=token, **download_kwargs))
        else:
            raise RepoCardError(f"Cannot load a card: {repo_id_or_path} is not a file on disk")
        # newline="" keeps the file's line endings; utf-8-sig drops a BOM some editors add.
        with path.open("r", newline="", encoding="utf-8-sig") as f:
            return cls(f.read(), ignore_metadata_errors=ignore_metadata_errors)

    def validate(self, repo_type: str | None = None, *, endpoint: str | None = None, token: str | None = None) -> None:
        """Ask the Hub whether it accepts this card's metadata (POST /api/validate-yaml).

        Raises RepoCardError (a ValueError) with the server's message when it refuses the card.
        """
        from snuggle.hub import http
        from snuggle.hub.constants import endpoint as default_endpoint
        from snuggle.hub.errors import HfHubHTTPError

        base = (endpoint or default_endpoint()).rstrip("/")
        body = {"repoType": repo_type or self.repo_type, "content": str(self)}
        try:
            http.request("POST", f"{base}/api/validate-yaml", token=token, endpoint=base, json=body,
                         headers={"Accept": "text/plain"})
        except HfHubHTTPError as err:
            response = getattr(err, "response", None)
            if response is not None and response.status_code == 400:
                raise RepoCardError(f"the Hub rejected the card metadata: {response.text}") from err
            raise

    def push_to_hub(self, repo_id: str, token: str | None = None, repo_type: str | None = None,
                    commit_message: str | None = None, commit_description: str | None = None,
                    revision: str | None = None, create_pr: bool | None = None, parent_commit: str | None = None,
                    *, endpoint: str | None = None):
        """Validate the card with the Hub, then commit it as README.md of `repo_id`; returns the CommitInfo."""
        from snuggle.hub.client import HfApi

        repo_type = repo_type or self.repo_type
        self.validate(repo_type=repo_type, endpoint=endpoint, token=token)
        api = HfApi(endpoint=endpoint, token=token)
        return api.upload_file(
            path_or_fileobj=str(self).encode("utf-8"), path_in_repo=REPOCARD_NAME, repo_id=repo_id,
            repo_type=repo_type, revision=revision, commit_message=commit_message,
            commit_description=commit_description, create_pr=create_pr, parent_commit=parent_commit,
        )

    @classmethod
    def from_template(cls, card_data: CardData, template_path: str | None = None, template_str: str | None = None,
                      **template_kwargs: Any):
        """A card rendered from a jinja2 template (the small built-in one by default).

        The template sees `card_data` (the YAML block), every metadata key, and `template_kwargs`
        (which win over metadata keys of the same name).

        >>> card = ModelCard.from_template(ModelCardData(license="mit"), model_id="tiny")
        >>> card.data.license, card.text.splitlines()[1]
        ('mit', '# tiny')
        """
        import jinja2

        values = card_data.to_dict()
        values.update(template_kwargs)
        if template_path is not None:
            template_str = Path(template_path).read_text(encoding="utf-8")
        if template_str is None:
            template_str = cls.default_template
        content = jinja2.Template(template_str).render(card_data=card_data.to_yaml(), **values)
        return cls(content)


class ModelCard(RepoCard):
    """A model repo's card; `.data` is a ModelCardData."""

    card_data_class = ModelCardData
    default_template = MODELCARD_TEMPLATE
    repo_type = "model"


class DatasetCard(RepoCard):
    """A dataset repo's card; `.data` is a DatasetCardData (push_to_hub keeps `configs`/`dataset_info` here)."""

    card_data_class = DatasetCardData
    default_template = DATASETCARD_TEMPLATE
    repo_type = "dataset"


class SpaceCard(RepoCard):
    """A Space's card; `.data` is a SpaceCardData."""

    card_data_class = SpaceCardData
    repo_type = "space"


# ------------------------------------------------------------------------- metadata-only helpers


def metadata_load(local_path: str | os.PathLike) -> dict | None:
    """The YAML metadata of a local README.md (None when it has no metadata block).

    >>> import tempfile; p = tempfile.mktemp(suffix=".md"); _ = open(p, "w").write("---\\na: 1\\n---\\nx")
    >>> metadata_load(p)
    {'a': 1}
    """
    content = Path(local_path).read_text(encoding="utf-8-sig")
    return _parse_metadata(content)[0]


def metadata_save(local_path: str | os.PathLike, data: dict) -> None:
    """Write `data` as the metadata block of `local_path`, keeping its markdown and line endings
    (the file is created when missing)."""
    line_break = "\n"
    content = ""
    if os.path.exists(local_path):
        with open(local_path, newline="", encoding="utf-8-sig") as f:
            content = f.read()
        line_break = _detect_line_ending(content) or "\n"
    block = f"---{line_break}{yaml_dump(data, line_break=line_break)}---{line_break}"
    match = REGEX_YAML_BLOCK.search(content)
    if match:
        output = content[:match.start()] + block + content[match.end():]
    else:
        output = block + content
    atomic_write_text(local_path, output)


def metadata_eval_result(*, model_pretty_name: str, task_pretty_name: str, task_id: str, metrics_pretty_name: str,
                         metrics_id: str, metrics_value: Any, dataset_pretty_name: str, dataset_id: str,
                         metrics_config: str | None = None, metrics_verified: bool = False,
                         dataset_config: str | None = None, dataset_split: str | None = None,
                         dataset_revision: str | None = None, metrics_verification_token: str | None = None) -> dict:
    """`{"model-index": [...]}` for one metric of one model on one dataset (for metadata_update)."""
    result = EvalResult(
        task_name=task_pretty_name, task_type=task_id, metric_name=metrics_pretty_name, metric_type=metrics_id,
        metric_value=metrics_value, dataset_name=dataset_pretty_name, dataset_type=dataset_id,
        metric_config=metrics_config, verified=metrics_verified, verify_token=metrics_verification_token,
        dataset_config=dataset_config, dataset_split=dataset_split, dataset_revision=dataset_revision,
    )
    return {"model-index": eval_results_to_model_index(model_pretty_name, [result])}


def metadata_update(repo_id: str, metadata: dict, *, repo_type: str | None = None, overwrite: bool = False,
                    token: str | None = None, commit_message: str | None = None,
                    commit_description: str | None = None, revision: str | None = None, create_pr: bool = False,
                    parent_commit: str | None = None, endpoint: str | None = None):
    """Merge `metadata` into the README.md of a Hub repo and commit it; returns the CommitInfo.

    A repo without README.md gets a card from the default template. Changing an existing key (or an
    existing metric's value) needs overwrite=True; new metrics in `model-index` are appended.
    """
    from snuggle.hub.errors import EntryNotFoundError

    card_class = {None: ModelCard, "model": ModelCard, "dataset": DatasetCard, "space": RepoCard}.get(repo_type)
    if card_class is None:
        raise RepoCardError(f"repo_type must be 'model', 'dataset' or 'space'; got {repo_type!r}")
    try:
        card = card_class.load(repo_id, repo_type=repo_type, token=token, revision=revision,
                               **({"endpoint": endpoint} if endpoint else {}))
    except EntryNotFoundError:
        if repo_type == "space":
            raise RepoCardError(f"{repo_id}: a Space needs a README.md; this one has none to update") from None
        card = card_class.from_template(card_class.card_data_class())

    for key, value in metadata.items():
        if key == "model-index":
            _merge_model_index(card, repo_id, value, overwrite)
            continue
        current = card.data.get(key)
        if current is not None and current != value and not overwrite:
            raise RepoCardError(f"You passed a new value for the existing metadata field {key!r} "
                                f"({current!r} -> {value!r}). Set overwrite=True to replace it.")
        card.data[key] = value

    return card.push_to_hub(
        repo_id, token=token, repo_type=repo_type,
        commit_message=commit_message if commit_message is not None else "Update metadata with huggingface_hub",
        commit_description=commit_description, create_pr=create_pr, revision=revision,
        parent_commit=parent_commit, endpoint=endpoint,
    )


def _merge_model_index(card: RepoCard, repo_id: str, model_index: list[dict], overwrite: bool) -> None:
    if "name" not in model_index[0]:
        model_index[0]["name"] = getattr(card, "model_name", repo_id)
    model_name, new_results = model_index_to_eval_results(model_index)
    if card.data.eval_results is None:
        card.data.eval_results = new_results
        card.data.model_name = model_name
        return
    existing = card.data.eval_results
    for new in new_results:
        same = [old for old in existing if new.is_equal_except_value(old)]
        for old in same:
            if new != old and not overwrite:
                raise RepoCardError(f"You passed a new value for the existing metric 'name: {new.metric_name}, "
                                    f"type: {new.metric_type}'. Set overwrite=True to replace it.")
            old.metric_value = new.metric_value
            if old.verified is True:
                old.verify_token = new.verify_token
        if not same:
            existing.append(new)
