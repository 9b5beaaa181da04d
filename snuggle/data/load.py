"""`load_dataset`: local files and folders -> cached Arrow files -> Dataset / DatasetDict.

    load_dataset("csv", data_files={"train": "train.csv", "test": "test.csv"})
    load_dataset("json", data_files="squad.json", field="data", split="train[:10%]")
    load_dataset("path/to/folder")              # builder from the extensions, splits from names
    load_dataset("text", data_files="a.txt", streaming=True)   # IterableDataset, nothing cached

The first call reads the files with the builder (snuggle.data.builders) and writes one Arrow
stream per split under the cache, in the reference's layout:

    <cache_dir>/<dataset name>/<config name>-<hash>/0.0.0/<builder hash>/<name>-<split>.arrow
                                                                          dataset_info.json

The folder is assembled as `<hash>.incomplete-*` and renamed into place when complete, so an
interrupted run never leaves a half cache; the next call with the same files (same paths, sizes,
mtimes) and options memory-maps it without parsing anything. Hub repositories go through
`resolve_hub_dataset`, the one seam for `snuggle.hub`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from snuggle.data import builders as builders_module
from snuggle.data.builders import PACKAGED_BUILDERS, BuilderConfig, config_signature, iter_tables, make_config, upfront_schema
from snuggle.data.data_files import (
    ALL_EXTENSIONS,
    BUILDER_TO_EXTENSIONS,
    EXTENSION_TO_BUILDER,
    files_signature,
    filter_by_extensions,
    get_data_patterns,
    infer_builder,
    resolve_data_files,
    sanitize_patterns,
)
from snuggle.data.splits import ReadInstruction, resolve_split_spec, split_display_name
from snuggle.errors import DataError

DEFAULT_VERSION = "0.0.0"
DOWNLOAD_MODES = ("reuse_dataset_if_exists", "reuse_cache_if_exists", "force_redownload")


def resolve_hub_dataset(path: str, revision: str | None = None, **kwargs) -> Any:
    """The seam for Hub datasets ("user/name"): a builder over the repo's data files (snuggle.data.hub_datasets)."""
    parts = path.split("/")
    if len(parts) != 2 or not all(parts) or path.startswith((".", "~")):
        raise DataError(
            f"'{path}' is neither a local file or folder, nor a packaged builder {list(PACKAGED_BUILDERS)}, "
            "nor a Hub dataset id ('namespace/name')."
        )
    from snuggle.data.hub_datasets import load_hub_dataset_builder

    return load_hub_dataset_builder(path, revision=revision, **kwargs)


def _camelcase_to_snakecase(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def _short_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _builder_code_hash() -> str:
    # Cached results are tied to the reader code: a changed builders.py reads files afresh.
    with open(builders_module.__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class DatasetBuilder:
    """One dataset's files, reader options and cache folder; `download_and_prepare` then `as_dataset`.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.csv"); _ = open(p, "w").write("x\\n1\\n2\\n")
    >>> b = load_dataset_builder("csv", data_files=p, cache_dir=os.path.join(d, "cache"))
    >>> b.download_and_prepare(); b.as_dataset(split="train[1:]").num_rows   # doctest: +SKIP
    1
    """

    def __init__(self, builder_name: str, dataset_name: str, config: BuilderConfig,
                 data_files: dict[str, list[str]], cache_dir: str | None = None, base_path: str | None = None):
        self.builder_name = builder_name
        self.dataset_name = dataset_name
        self.name = dataset_name
        self.config = config
        self.data_files = data_files
        self.base_path = base_path
        self.config_id = f"{config.name}-{_short_hash([files_signature(data_files), config_signature(config)])}"
        self.hash = _builder_code_hash()
        if cache_dir is None:
            from snuggle.data.fingerprint import get_datasets_cache_dir

            cache_dir = get_datasets_cache_dir()
        self._cache_dir_root = os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
        self.cache_dir = os.path.join(self._cache_dir_root, self._relative_data_dir())
        self.info = None

    def _relative_data_dir(self) -> str:
        return "/".join([self.dataset_name, self.config_id, DEFAULT_VERSION, self.hash])

    def split_file(self, split: str) -> str:
        return os.path.join(self.cache_dir, f"{self.dataset_name}-{split}.arrow")

    def _is_prepared(self) -> bool:
        return os.path.isfile(os.path.join(self.cache_dir, "dataset_info.json")) and all(
            os.path.isfile(self.split_file(s)) for s in self.data_files
        )

    # -- preparation -------------------------------------------------------------------------

    def download_and_prepare(self, download_mode: str | None = None, num_proc: int | None = None, **_: Any) -> None:
        """Read the data files into Arrow files in the cache (skipped when the cache has them)."""
        from snuggle.data.info import DatasetInfo

        mode = str(getattr(download_mode, "value", download_mode) or "reuse_dataset_if_exists")
        if mode not in DOWNLOAD_MODES:
            raise DataError(f"download_mode must be one of {list(DOWNLOAD_MODES)}, got {download_mode!r}")
        if mode != "force_redownload" and self._is_prepared():
            self.info = DatasetInfo.from_directory(self.cache_dir)
            return
        parent = os.path.dirname(self.cache_dir)
        os.makedirs(parent, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=os.path.basename(self.cache_dir) + ".incomplete-", dir=parent)
        try:
            info = self._generate(tmp_dir)
            if os.path.isdir(self.cache_dir):
                # A forced rebuild (or a concurrent run): swap the old folder out, the new one in.
                old = tmp_dir + ".old"
                os.replace(self.cache_dir, old)
                os.replace(tmp_dir, self.cache_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp_dir, self.cache_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        self.info = info

    def _generate(self, out_dir: str):
        from snuggle.data.arrow_writer import ArrowWriter
        from snuggle.data.features import Features
        from snuggle.data.info import DatasetInfo
        from snuggle.utils.progress import progress_bar

        schema = upfront_schema(self.builder_name, self.data_files, self.config)
        features = self.config.features
        if features is None and schema is not None and self.builder_name in ("parquet", "arrow"):
            # as the reference (and as_streaming_dataset): the first file's schema metadata restores
            # ClassLabel names and other features plain Arrow types cannot express
            features = Features.from_arrow_schema(schema)
        splits = {}
        for split, files in self.data_files.items():
            path = os.path.join(out_dir, f"{self.dataset_name}-{split}.arrow")
            writer = ArrowWriter(path, features=features)
            with writer, progress_bar(desc=f"Generating {split} split", unit=" examples") as bar:
                for table in iter_tables(self.builder_name, files, self.config, schema_from=schema):
                    writer.write_table(table)
                    bar.update(table.num_rows)
                if writer.schema is None:
                    raise DataError(f"split '{split}': the files {files} hold no rows and no features= were given")
                num_rows, num_bytes = writer.finalize()
            if features is None:
                features = writer.features or Features.from_arrow_schema(writer.schema)
            splits[split] = {"name": split, "num_bytes": num_bytes, "num_examples": num_rows,
                             "dataset_name": self.dataset_name}
        dataset_size = sum(s["num_bytes"] for s in splits.values())
        from snuggle.data.remote_files import data_file_size

        download_size = sum(data_file_size(f) or 0 for files in self.data_files.values() for f in files)
        info = DatasetInfo(
            builder_name=self.builder_name,
            dataset_name=self.dataset_name,
            config_name=self.config.name,
            version=DEFAULT_VERSION,
            features=features,
            splits=splits,
            download_size=download_size,
            dataset_size=dataset_size,
            size_in_bytes=download_size + dataset_size,
        )
        info.write_to_directory(out_dir)
        return info

    # -- reading -----------------------------------------------------------------------------

    def as_dataset(self, split=None, in_memory: bool = False):
        """A DatasetDict of every split (split=None), a list for a list of specs, else one Dataset."""
        if self.info is None:
            raise DataError("as_dataset() needs download_and_prepare() first")
        if split is None:
            from snuggle.data.dataset_dict import DatasetDict

            return DatasetDict({s: self._build_single(s, in_memory) for s in self.data_files})
        if isinstance(split, (list, tuple)):
            return [self._build_single(s, in_memory) for s in split]
        return self._build_single(split, in_memory)

    def _build_single(self, split, in_memory: bool):
        import pyarrow as pa

        from snuggle.data.arrow_dataset import Dataset
        from snuggle.data.arrow_files import read_arrow_file

        tables = {s: read_arrow_file(self.split_file(s), in_memory=in_memory) for s in self.data_files}
        slices = resolve_split_spec(split, {s: t.num_rows for s, t in tables.items()})
        name = split_display_name(split, list(self.data_files))
        fingerprint = _short_hash([self._relative_data_dir(), str(name)])
        parts = [tables[s.split].slice(s.start, s.stop - s.start) for s in slices]
        if all(len(t) == 0 for t in parts) and any(tables[s.split].num_rows for s in slices):
            raise DataError(f'Instruction "{split}" corresponds to no data!')
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        files = [] if in_memory else list(dict.fromkeys(self.split_file(s.split) for s in slices))
        return Dataset(table, info=self.info, split=name, fingerprint=fingerprint, data_files=files)

    def as_streaming_dataset(self, split=None):
        """IterableDataset(s) reading the files lazily through `builders.generate_tables` (no cache written)."""
        from snuggle.data.iterable_dataset import IterableDataset

        schema = upfront_schema(self.builder_name, self.data_files, self.config)
        features = self.config.features
        if features is None and schema is not None:
            from snuggle.data.features import Features

            features = Features.from_arrow_schema(schema)

        def one(split_name: str):
            if split_name not in self.data_files:
                raise DataError(f'Unknown split "{split_name}". Should be one of {list(self.data_files)}.')
            return IterableDataset.from_arrow_tables(
                builders_module.generate_tables,
                gen_kwargs={"files": list(self.data_files[split_name]), "builder_name": self.builder_name,
                            "config": self.config, "schema": schema},
                features=features,
                split=split_name,
            )

        if split is None:
            from snuggle.data.iterable_dataset import IterableDatasetDict

            return IterableDatasetDict({s: one(s) for s in self.data_files})
        if isinstance(split, ReadInstruction) or not re.fullmatch(r"\w+(\.\w+)*", str(split)):
            raise DataError(f"streaming=True takes a plain split name, not the slice {str(split)!r}; "
                            "use .skip() / .take() on the IterableDataset instead")
        return one(str(split))


# ------------------------------------------------------------------------------------------------


def load_dataset_builder(path: str, name: str | None = None, data_dir: str | None = None, data_files=None,
                         cache_dir: str | None = None, features=None, download_config=None,
                         download_mode=None, revision: str | None = None, token=None, storage_options=None,
                         **config_kwargs) -> DatasetBuilder:
    """Resolve `path` + `data_files` to a DatasetBuilder (nothing is read yet).

    `path` is a packaged builder name ("csv", "json", "parquet", "text", "arrow"), a local folder,
    or a local data file; anything else goes to `resolve_hub_dataset`.
    """
    path = os.fspath(path)
    default_kwargs: dict = {}
    if path in PACKAGED_BUILDERS:
        builder_name = path
        base_path = Path(data_dir or "").expanduser().resolve().as_posix()
        if data_files is None and data_dir is None:
            raise DataError(f"load_dataset('{path}') needs data_files= (paths or globs) or data_dir= (a folder)")
        patterns = sanitize_patterns(data_files) if data_files is not None else get_data_patterns(base_path)
        files = resolve_data_files(patterns, base_path)
        dataset_name = builder_name
    elif os.path.isdir(path):
        base_path = Path(path, data_dir or "").expanduser().resolve().as_posix()
        patterns = sanitize_patterns(data_files) if data_files is not None else get_data_patterns(base_path)
        files = resolve_data_files(patterns, base_path, allowed_extensions=ALL_EXTENSIONS)
        builder_name, default_kwargs = infer_builder(files, path)
        files = filter_by_extensions(files, BUILDER_TO_EXTENSIONS[builder_name])
        dataset_name = _camelcase_to_snakecase(Path(path).resolve().name)
    elif os.path.isfile(path) and os.path.splitext(path)[1].lower() in EXTENSION_TO_BUILDER:
        builder_name, default_kwargs = EXTENSION_TO_BUILDER[os.path.splitext(path)[1].lower()]
        base_path = os.path.dirname(os.path.abspath(path))
        files = {"train": [Path(path).resolve().as_posix()]}
        dataset_name = builder_name
    elif os.path.exists(path) or path.endswith(".py"):
        raise DataError(f"'{path}': loading scripts and files of this type are not supported; "
                        f"supported extensions: {ALL_EXTENSIONS}")
    else:
        return resolve_hub_dataset(path, revision=revision, name=name, data_dir=data_dir, data_files=data_files,
                                   token=token, cache_dir=cache_dir, features=features, **config_kwargs)
    for split, split_files in files.items():
        if not split_files:
            raise DataError(f"split '{split}': no data files left in '{base_path}' for the {builder_name} builder")
    if "sep" in default_kwargs and ("sep" in config_kwargs or "delimiter" in config_kwargs):
        default_kwargs = {}
    if features is not None and not hasattr(features, "arrow_schema"):
        raise DataError(f"features must be a snuggle.data.Features, got {type(features).__name__}")
    config = make_config(builder_name, **{**default_kwargs, **config_kwargs, "name": name or "default",
                                          "features": features})
    return DatasetBuilder(builder_name, dataset_name, config, files, cache_dir=cache_dir, base_path=base_path)


def load_dataset(path: str, name: str | None = None, data_dir: str | None = None, data_files=None,
                 split=None, cache_dir: str | None = None, features=None, download_config=None,
                 download_mode=None, verification_mode=None, keep_in_memory: bool | None = None,
                 save_infos: bool = False, revision: str | None = None, token=None, streaming: bool = False,
                 num_proc: int | None = None, storage_options=None, **config_kwargs):
    """Load local csv / tsv / json / jsonl / parquet / text / arrow files as a Dataset or DatasetDict.

    Args mirror `datasets.load_dataset`; `**config_kwargs` are the builder's options
    (csv: sep/delimiter, column_names, skiprows, quoting, ...; json: field; text: sample_by,
    keep_linebreaks; parquet: columns, filters).

    >>> ds = load_dataset("csv", data_files="train.csv", split="train[:10%]")   # doctest: +SKIP
    >>> dd = load_dataset("data_folder")                                          # doctest: +SKIP
    """
    if data_files is not None and not data_files:
        raise DataError(f"Empty 'data_files': '{data_files}'. It should be a path, a list of paths or a dict")
    builder = load_dataset_builder(path, name=name, data_dir=data_dir, data_files=data_files, cache_dir=cache_dir,
                                   features=features, download_mode=download_mode, revision=revision, token=token,
                                   **config_kwargs)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare(download_mode=download_mode, num_proc=num_proc)
    return builder.as_dataset(split=split, in_memory=bool(keep_in_memory))
