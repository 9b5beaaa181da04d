"""Dataset metadata: DatasetInfo, SplitInfo, SplitDict, Version — dataset_info.json of datasets 5.

`DatasetInfo.to_dict()` is the JSON object the reference writes (same keys, same order, fields left
out exactly when the reference leaves them out), and `from_dict` reads it back, ignoring unknown keys.

>>> from snuggle.data.features import Features, Value
>>> info = DatasetInfo(description="toy", features=Features({"x": Value("int32")}))
>>> info.to_dict()["features"]
{'x': {'dtype': 'int32', '_type': 'Value'}}
>>> DatasetInfo.from_dict(info.to_dict()) == info
True
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from snuggle.data.features import Features
from snuggle.errors import DataError

DATASET_INFO_FILENAME = "dataset_info.json"
LICENSE_FILENAME = "LICENSE"


def _info_asdict(obj: Any) -> Any:
    """Like the reference's asdict: init fields equal to their default are left out unless marked."""
    if isinstance(obj, Features):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = _info_asdict(getattr(obj, f.name))
            # Fields with a default_factory have no `default`: always written (as the reference).
            if not f.init or value != f.default or f.metadata.get("always"):
                out[f.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return [_info_asdict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _info_asdict(v) for k, v in obj.items()}
    return copy.deepcopy(obj)


@functools.total_ordering
@dataclass(repr=False, eq=False)
class Version:
    """A MAJOR.MINOR.PATCH dataset version; compares with strings.

    >>> Version("1.2.3") == "1.2.3", Version("1.2.3") < "1.10.0"
    (True, True)
    """

    version_str: str
    description: Optional[str] = None
    major: Optional[Union[str, int]] = None
    minor: Optional[Union[str, int]] = None
    patch: Optional[Union[str, int]] = None

    def __post_init__(self):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(self.version_str))
        if not m:
            raise DataError(f"version {self.version_str!r} is not of the form MAJOR.MINOR.PATCH (e.g. '1.0.0')")
        self.major, self.minor, self.patch = (int(g) for g in m.groups())

    @property
    def tuple(self):
        return self.major, self.minor, self.patch

    def _other(self, other) -> Version:
        if isinstance(other, str):
            return Version(other)
        if isinstance(other, Version):
            return other
        raise TypeError(f"{other!r} cannot be compared to a Version")

    def __eq__(self, other):
        try:
            return self.tuple == self._other(other).tuple
        except (TypeError, DataError):
            return False

    def __lt__(self, other):
        return self.tuple < self._other(other).tuple

    def __hash__(self):
        return hash(self.tuple)

    def __repr__(self):
        return f"{self.major}.{self.minor}.{self.patch}"

    def __str__(self):
        return repr(self)

    @classmethod
    def from_dict(cls, d: dict) -> Version:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SupervisedKeysData:
    input: str = ""
    output: str = ""


@dataclass
class PostProcessedInfo:
    features: Optional[Features] = None
    resources_checksums: Optional[dict] = None

    def __post_init__(self):
        if self.features is not None and not isinstance(self.features, Features):
            self.features = Features.from_dict(self.features)

    @classmethod
    def from_dict(cls, d: dict) -> PostProcessedInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SplitInfo:
    """Size of one split. `name`, `num_bytes`, `num_examples` and `dataset_name` are always written."""

    name: str = field(default="", metadata={"always": True})
    num_bytes: int = field(default=0, metadata={"always": True})
    num_examples: int = field(default=0, metadata={"always": True})
    shard_lengths: Optional[list] = None
    original_shard_lengths: Optional[list] = None
    dataset_name: Optional[str] = field(default=None, metadata={"always": True})

    def __repr__(self):
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if getattr(self, f.name)]
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def to_dict(self) -> dict:
        return _info_asdict(self)


class SplitDict(dict):
    """Split name -> SplitInfo.

    >>> s = SplitDict.from_split_dict({"train": {"name": "train", "num_bytes": 10, "num_examples": 2}})
    >>> s["train"].num_examples, s.total_num_examples
    (2, 2)
    """

    def __init__(self, *args, dataset_name: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset_name = dataset_name

    def __getitem__(self, key):
        try:
            return super().__getitem__(str(key))
        except KeyError:
            raise KeyError(f"unknown split {str(key)!r}; available splits: {list(self)}") from None

    def __setitem__(self, key, value: SplitInfo):
        if key != value.name:
            raise DataError(f"Cannot add elem. (key mismatch: '{key}' != '{value.name}')")
        super().__setitem__(key, value)

    def add(self, split_info: SplitInfo) -> None:
        if split_info.name in self:
            raise DataError(f"Split {split_info.name} already present")
        split_info.dataset_name = self.dataset_name
        super().__setitem__(split_info.name, split_info)

    @property
    def total_num_examples(self) -> int:
        return sum(s.num_examples for s in self.values())

    @classmethod
    def from_split_dict(cls, split_infos, dataset_name: Optional[str] = None) -> SplitDict:
        """From a list or dict of SplitInfo / plain dicts."""
        if isinstance(split_infos, dict):
            split_infos = list(split_infos.values())
        if dataset_name is None and split_infos:
            first = split_infos[0]
            dataset_name = first.get("dataset_name") if isinstance(first, dict) else first.dataset_name
        out = cls(dataset_name=dataset_name)
        for info in split_infos:
            if isinstance(info, dict):
                names = {f.name for f in dataclasses.fields(SplitInfo)}
                info = SplitInfo(**{k: v for k, v in info.items() if k in names})
            out.add(copy.copy(info))
        return out

    def to_split_dict(self) -> list:
        out = []
        for name, info in self.items():
            info = copy.deepcopy(info)
            info.name = name
            out.append(info)
        return out

    def to_dict(self) -> dict:
        return {name: _info_asdict(info) for name, info in self.items()}

    def copy(self) -> SplitDict:
        return SplitDict.from_split_dict(self.to_split_dict(), self.dataset_name)


@dataclass
class DatasetInfo:
    """Metadata of a dataset (description, features, splits, sizes ...), as datasets.DatasetInfo."""

    description: str = field(default_factory=str)
    citation: str = field(default_factory=str)
    homepage: str = field(default_factory=str)
    license: str = field(default_factory=str)
    features: Optional[Features] = None
    post_processed: Optional[PostProcessedInfo] = None
    supervised_keys: Optional[SupervisedKeysData] = None
    builder_name: Optional[str] = None
    dataset_name: Optional[str] = None
    config_name: Optional[str] = None
    version: Optional[Union[str, Version]] = None
    splits: Optional[SplitDict] = None
    download_checksums: Optional[dict] = None
    download_size: Optional[int] = None
    post_processing_size: Optional[int] = None
    dataset_size: Optional[int] = None
    size_in_bytes: Optional[int] = None

    def __post_init__(self):
        if self.features is not None and not isinstance(self.features, Features):
            self.features = Features.from_dict(self.features)
        if self.post_processed is not None and not isinstance(self.post_processed, PostProcessedInfo):
            self.post_processed = PostProcessedInfo.from_dict(self.post_processed)
        if self.version is not None and not isinstance(self.version, Version):
            self.version = Version(self.version) if isinstance(self.version, str) else Version.from_dict(self.version)
        if self.splits is not None and not isinstance(self.splits, SplitDict):
            self.splits = SplitDict.from_split_dict(self.splits)
        if self.supervised_keys is not None and not isinstance(self.supervised_keys, SupervisedKeysData):
            if isinstance(self.supervised_keys, (tuple, list)):
                self.supervised_keys = SupervisedKeysData(*self.supervised_keys)
            else:
                self.supervised_keys = SupervisedKeysData(**self.supervised_keys)

    def to_dict(self) -> dict:
        """The dataset_info.json object (keys and omissions as datasets 5)."""
        out = _info_asdict(self)
        if self.splits is not None:
            out["splits"] = self.splits.to_dict()
        return out

    @classmethod
    def from_dict(cls, dataset_info_dict: dict) -> DatasetInfo:
        """From a dataset_info.json object; unknown keys are ignored (as the reference)."""
        if not isinstance(dataset_info_dict, dict):
            raise DataError(f"dataset_info.json must hold a JSON object; got {type(dataset_info_dict).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dataset_info_dict.items() if k in names})

    def write_to_directory(self, dataset_info_dir, pretty_print: bool = False, storage_options=None) -> None:
        """Write dataset_info.json (and LICENSE when a license is set) into `dataset_info_dir`."""
        from snuggle.utils.atomic import atomic_write

        os.makedirs(dataset_info_dir, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=4 if pretty_print else None)
        with atomic_write(os.path.join(dataset_info_dir, DATASET_INFO_FILENAME), "w", encoding="utf-8") as f:
            f.write(text)
        if self.license:
            with atomic_write(os.path.join(dataset_info_dir, LICENSE_FILENAME), "w", encoding="utf-8") as f:
                f.write(self.license)

    @classmethod
    def from_directory(cls, dataset_info_dir, storage_options=None) -> DatasetInfo:
        """Read `dataset_info_dir`/dataset_info.json."""
        if not dataset_info_dir:
            raise DataError("DatasetInfo.from_directory() needs a directory")
        path = os.path.join(dataset_info_dir, DATASET_INFO_FILENAME)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise DataError(f"{path}: no dataset_info.json in this directory") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
        try:
            return cls.from_dict(data)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None

    @classmethod
    def from_merge(cls, dataset_infos: list) -> DatasetInfo:
        """One info for concatenated datasets: equal infos stay, otherwise texts are joined, features dropped."""
        infos = [info.copy() for info in dataset_infos if info is not None]
        if infos and all(infos[0] == info for info in infos):
            return infos[0]

        def joined(attr):
            seen = []
            for info in infos:
                value = getattr(info, attr)
                if value not in seen:
                    seen.append(value)
            return "\n\n".join(seen).strip()

        return cls(description=joined("description"), citation=joined("citation"), homepage=joined("homepage"),
                   license=joined("license"))

    def update(self, other: DatasetInfo, ignore_none: bool = True) -> None:
        for k, v in other.__dict__.items():
            if v is not None or not ignore_none:
                self.__dict__[k] = copy.deepcopy(v)

    def copy(self) -> DatasetInfo:
        return type(self)(**{k: copy.deepcopy(v) for k, v in self.__dict__.items()})

    def __repr__(self):
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if getattr(self, f.name)]
        return f"{type(self).__qualname__}({', '.join(shown)})"
