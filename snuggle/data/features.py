"""Column types of a dataset: the `datasets.features` API.

A `Features` is a dict from column name to a feature type:
- `Value(dtype)`: one scalar of an Arrow type ("int64", "string", "timestamp[us]", ...);
- `ClassLabel(names=...)`: an int64 label with names (strings are encoded to ints);
- `List(feature, length=-1)` / `LargeList(feature)`: variable or fixed length lists;
  `Sequence(feature)` is `List`, except that `Sequence({...})` gives a dict of lists (TFDS habit);
- `Array2D..Array5D(shape, dtype)`: fixed-shape arrays (see snuggle.data.arrow_dtypes for the on-disk form);
- `Translation` / `TranslationVariableLanguages`; a plain dict for nested structs.

`Features.to_dict()` / `from_dict()` are exactly the "features" JSON of dataset_info.json,
`arrow_schema` carries that JSON under the schema metadata key "huggingface" (as the reference),
and `from_arrow_schema` reads it back. Casting Arrow data to features lives in snuggle.data.casting.

>>> f = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
>>> f.encode_example({"text": "good", "label": "pos"})
{'text': 'good', 'label': 1}
>>> f
{'text': Value('string'), 'label': ClassLabel(names=['neg', 'pos'])}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import InitVar, dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Optional

import pyarrow as pa

from snuggle.data.arrow_dtypes import (
    array_extension_metadata,
    array_spec_from_field,
    array_storage_type,
    arrow_to_dtype,
    canonical_dtype,
    dtype_to_arrow,
    strip_extension,
)
from snuggle.errors import DataError

SCHEMA_METADATA_KEY = "huggingface"


# --- feature types --------------------------------------------------------------------------


@dataclass(repr=False)
class Value:
    """A scalar of one Arrow type, named by a dtype string.

    >>> Value("float"), Value("int32")()
    (Value('float32'), DataType(int32))
    """

    dtype: str
    id: Optional[str] = field(default=None, repr=False)
    pa_type: ClassVar[Any] = None
    _type: str = field(default="Value", init=False, repr=False)

    def __post_init__(self):
        self.dtype = canonical_dtype(self.dtype) if isinstance(self.dtype, str) else self.dtype
        self.pa_type = dtype_to_arrow(self.dtype)

    def __call__(self) -> pa.DataType:
        return self.pa_type

    def encode_example(self, value):
        t = pa.types
        if t.is_boolean(self.pa_type):
            return bool(value)
        if t.is_integer(self.pa_type):
            return int(value)
        if t.is_floating(self.pa_type):
            return float(value)
        if t.is_string(self.pa_type) or t.is_large_string(self.pa_type) or t.is_string_view(self.pa_type):
            return str(value)
        return value

    def __repr__(self):
        return f"{type(self).__name__}('{self.dtype}')"


@dataclass
class ClassLabel:
    """Integer class labels with names; stored as int64, -1 meaning "no label".

    >>> c = ClassLabel(names=["neg", "pos"])
    >>> c.str2int("pos"), c.int2str([0, 1]), c.num_classes
    (1, ['neg', 'pos'], 2)
    """

    num_classes: InitVar[Optional[int]] = None
    names: list = None
    names_file: InitVar[Optional[str]] = None
    id: Optional[str] = field(default=None, repr=False)
    dtype: ClassVar[str] = "int64"
    pa_type: ClassVar[Any] = pa.int64()
    _type: str = field(default="ClassLabel", init=False, repr=False)

    def __post_init__(self, num_classes, names_file):
        self.num_classes = num_classes
        self.names_file = names_file
        if names_file is not None and self.names is not None:
            raise DataError("ClassLabel: give either names or names_file, not both")
        if self.names is None:
            if names_file is not None:
                self.names = _read_names_file(names_file)
            elif num_classes is not None:
                self.names = [str(i) for i in range(num_classes)]
            else:
                raise DataError("ClassLabel needs one of names=[...], num_classes=N or names_file=PATH")
        elif isinstance(self.names, str) or not isinstance(self.names, SequenceABC):
            raise DataError(f"ClassLabel names must be a list of strings; got {type(self.names).__name__}")
        if self.num_classes is None:
            self.num_classes = len(self.names)
        elif self.num_classes != len(self.names):
            raise DataError(
                f"ClassLabel: num_classes={self.num_classes} but {len(self.names)} names were given ({self.names!r})"
            )
        self._int2str = [str(name) for name in self.names]
        self._str2int = {name: i for i, name in enumerate(self._int2str)}
        if len(self._str2int) != len(self._int2str):
            dupes = sorted({n for n in self._int2str if self._int2str.count(n) > 1})
            raise DataError(f"ClassLabel names must be unique; duplicated: {dupes}")

    def __call__(self) -> pa.DataType:
        return self.pa_type

    def str2int(self, values):
        """Label name(s) -> id(s); accepts a name, a list of names, or digit strings of valid ids."""
        if isinstance(values, str):
            return self._strval2int(values)
        if not isinstance(values, Iterable):
            raise DataError(f"ClassLabel.str2int expects a string or an iterable of strings; got {values!r}")
        return [self._strval2int(v) for v in values]

    def _strval2int(self, value) -> int:
        value = str(value)
        found = self._str2int.get(value)
        if found is None:
            found = self._str2int.get(value.strip())
        if found is None:
            try:
                found = int(value)
            except ValueError:
                found = None
            if found is None or not -1 <= found < self.num_classes:
                raise DataError(f"Invalid string class label {value!r}; expected one of {self._int2str}")
        return found

    def int2str(self, values):
        """Label id(s) -> name(s); ids must be in [0, num_classes)."""
        single = isinstance(values, int) or (hasattr(values, "ndim") and getattr(values, "ndim", 1) == 0)
        if not single and not isinstance(values, Iterable):
            raise DataError(f"ClassLabel.int2str expects an int or an iterable of ints; got {values!r}")
        items = [values] if single else list(values)
        for v in items:
            if not 0 <= int(v) < self.num_classes:
                raise DataError(f"Invalid integer class label {int(v)}; expected 0..{self.num_classes - 1}")
        out = [self._int2str[int(v)] for v in items]
        return out[0] if single else out

    def encode_example(self, example_data):
        if isinstance(example_data, str):
            example_data = self.str2int(example_data)
        if not -1 <= example_data < self.num_classes:
            raise DataError(
                f"Class label {int(example_data)} out of range: expected -1..{self.num_classes - 1} "
                f"(names {self._int2str})"
            )
        return example_data

    def cast_storage(self, storage: pa.Array) -> pa.Array:
        """Arrow strings (label names) or integers -> int64 label ids, vectorised; errors list bad labels."""
        from snuggle.data.casting import class_label_cast_storage

        return class_label_cast_storage(self, storage)


def _read_names_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [name.strip() for name in f.read().split("\n") if name.strip()]
    except OSError as e:
        raise DataError(f"ClassLabel names_file {path!r} cannot be read: {e}") from e


class Sequence:
    """`List` of a feature, except that `Sequence({...})` becomes a dict of `List`s (as the reference).

    >>> Sequence(Value("int32"))
    List(Value('int32'))
    >>> Sequence({"a": Value("int8")})
    {'a': List(Value('int8'))}
    """

    def __new__(cls, feature=None, length=-1, **kwargs):
        if cls is Sequence and isinstance(feature, dict) and any(not isinstance(f, List) for f in feature.values()):
            return {key: List(value, length=length, **kwargs) for key, value in feature.items()}
        return super().__new__(List)


@dataclass(repr=False)
class List(Sequence):
    """A list of `feature` (Arrow list; fixed_size_list when length >= 0)."""

    feature: Any
    length: int = -1
    id: Optional[str] = field(default=None, repr=False)
    pa_type: ClassVar[Any] = None
    _type: str = field(default="List", init=False, repr=False)

    def __repr__(self):
        if self.length != -1:
            return f"{type(self).__name__}({self.feature}, length={self.length})"
        return f"{type(self).__name__}({self.feature})"


@dataclass(repr=False)
class LargeList:
    """A list of `feature` with 64-bit offsets (Arrow large_list)."""

    feature: Any
    id: Optional[str] = field(default=None, repr=False)
    pa_type: ClassVar[Any] = None
    _type: str = field(default="LargeList", init=False, repr=False)

    def __repr__(self):
        return f"{type(self).__name__}({self.feature})"


class _ArrayXD:
    """Fixed-shape array; the first dimension may be None (variable)."""

    def __post_init__(self):
        self.shape = tuple(self.shape)
        if len(self.shape) != self.ndims:
            raise DataError(f"{type(self).__name__} needs a shape of {self.ndims} dimensions; got {self.shape}")
        if any(d is None for d in self.shape[1:]):
            raise DataError(f"{type(self).__name__}: only the first dimension may be None; got {self.shape}")
        dtype_to_arrow(self.dtype)  # validate early

    def __call__(self) -> pa.DataType:
        return array_storage_type(self.shape, self.dtype)

    def encode_example(self, value):
        return value.tolist() if hasattr(value, "tolist") else value


@dataclass
class Array2D(_ArrayXD):
    """A 2-D array of fixed shape. `Array2D(shape=(2, 3), dtype="float32")`."""

    shape: tuple
    dtype: str
    id: Optional[str] = field(default=None, repr=False)
    ndims: ClassVar[int] = 2
    _type: str = field(default="Array2D", init=False, repr=False)


@dataclass
class Array3D(_ArrayXD):
    """A 3-D array of fixed shape."""

    shape: tuple
    dtype: str
    id: Optional[str] = field(default=None, repr=False)
    ndims: ClassVar[int] = 3
    _type: str = field(default="Array3D", init=False, repr=False)


@dataclass
class Array4D(_ArrayXD):
    """A 4-D array of fixed shape."""

    shape: tuple
    dtype: str
    id: Optional[str] = field(default=None, repr=False)
    ndims: ClassVar[int] = 4
    _type: str = field(default="Array4D", init=False, repr=False)


@dataclass
class Array5D(_ArrayXD):
    """A 5-D array of fixed shape."""

    shape: tuple
    dtype: str
    id: Optional[str] = field(default=None, repr=False)
    ndims: ClassVar[int] = 5
    _type: str = field(default="Array5D", init=False, repr=False)


_ARRAY_CLASSES = {2: Array2D, 3: Array3D, 4: Array4D, 5: Array5D}


@dataclass
class Translation:
    """One string per language (a struct of the sorted language codes).

    >>> Translation(languages=["fr", "en"])()
    StructType(struct<en: string, fr: string>)
    """

    languages: list
    id: Optional[str] = field(default=None, repr=False)
    dtype: ClassVar[str] = "dict"
    pa_type: ClassVar[Any] = None
    _type: str = field(default="Translation", init=False, repr=False)

    def __call__(self) -> pa.DataType:
        return pa.struct({lang: pa.string() for lang in sorted(self.languages)})

    def flatten(self) -> dict:
        return {k: Value("string") for k in sorted(self.languages)}


@dataclass
class TranslationVariableLanguages:
    """Any number of translations per language, stored as aligned sorted `language` / `translation` lists.

    >>> TranslationVariableLanguages(languages=["en", "fr"]).encode_example({"en": "cat", "fr": ["chat", "chatte"]})
    {'language': ('en', 'fr', 'fr'), 'translation': ('cat', 'chat', 'chatte')}
    """

    languages: Optional[list] = None
    num_languages: Optional[int] = None
    id: Optional[str] = field(default=None, repr=False)
    dtype: ClassVar[str] = "dict"
    pa_type: ClassVar[Any] = None
    _type: str = field(default="TranslationVariableLanguages", init=False, repr=False)

    def __post_init__(self):
        self.languages = sorted(set(self.languages)) if self.languages else None
        self.num_languages = len(self.languages) if self.languages else None

    def __call__(self) -> pa.DataType:
        return pa.struct({"language": pa.list_(pa.string()), "translation": pa.list_(pa.string())})

    def encode_example(self, translation_dict):
        if set(translation_dict) == {"language", "translation"}:
            return translation_dict
        unknown = set(translation_dict) - set(self.languages or ())
        if self.languages and unknown:
            raise DataError(
                f"Some languages in example ({', '.join(sorted(unknown))}) are not in valid set "
                f"({', '.join(self.languages)})."
            )
        pairs = []
        for lang, text in translation_dict.items():
            pairs.extend([(lang, text)] if isinstance(text, str) else [(lang, t) for t in text])
        languages, translations = zip(*sorted(pairs)) if pairs else ((), ())
        return {"language": languages, "translation": translations}

    def flatten(self) -> dict:
        return {"language": List(Value("string")), "translation": List(Value("string"))}


_FEATURE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Value, ClassLabel, List, LargeList, Array2D, Array3D, Array4D, Array5D, Translation,
                TranslationVariableLanguages)
}


def register_feature(feature_cls: type, feature_type: str) -> None:
    """Make `Features.from_dict` know a custom feature class under the `_type` name `feature_type`."""
    _FEATURE_TYPES[feature_type] = feature_cls


# --- dict form (dataset_info.json) ----------------------------------------------------------


def _asdict(obj: Any) -> Any:
    """The JSON form of a feature: dataclass fields, leaving out init fields still at their default."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in fields(obj):
            value = _asdict(getattr(obj, f.name))
            if not f.init or value != f.default:
                out[f.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _asdict(v) for k, v in obj.items()}
    return copy.deepcopy(obj)


def generate_from_dict(obj: Any):
    """Rebuild a (nested) feature from its JSON form, dispatching on "_type"."""
    if isinstance(obj, list):
        return [generate_from_dict(v) for v in obj]
    if not isinstance(obj, dict):
        if hasattr(obj, "_type"):  # already a feature object
            return obj
        raise DataError(f"features JSON: expected an object with '_type', got {obj!r}")
    if "_type" not in obj or isinstance(obj["_type"], dict):
        return {key: generate_from_dict(value) for key, value in obj.items()}
    obj = dict(obj)
    type_name = obj.pop("_type")
    cls = _FEATURE_TYPES.get(type_name)
    if type_name == "Sequence":  # datasets < 4 files
        return Sequence(generate_from_dict(obj.pop("feature")), **{k: v for k, v in obj.items() if k in ("length", "id")})
    if cls is None:
        raise DataError(f"features JSON: unknown feature _type {type_name!r}; known types: {sorted(_FEATURE_TYPES)}")
    if cls in (List, LargeList):
        return cls(generate_from_dict(obj.pop("feature")), **obj)
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError as e:
        raise DataError(f"features JSON: bad fields for {type_name}: {obj!r} ({e})") from e


# --- Arrow types ----------------------------------------------------------------------------


def feature_arrow_field(name: str, feature) -> pa.Field:
    """The pyarrow field of one (possibly nested) feature; ArrayND fields carry extension metadata."""
    if isinstance(feature, _ArrayXD):
        return pa.field(name, feature(), metadata=array_extension_metadata(feature.shape, feature.dtype))
    return pa.field(name, get_nested_type(feature))


def get_nested_type(feature) -> pa.DataType:
    """The pyarrow type of a feature (`Features.type` for the whole dict)."""
    if isinstance(feature, dict):
        return pa.struct([feature_arrow_field(k, v) for k, v in feature.items()])
    if isinstance(feature, (list, tuple)):
        if len(feature) != 1:
            raise DataError("a list feature must hold exactly one example of its item type, e.g. [Value('int64')]")
        return pa.list_(feature_arrow_field("item", feature[0]))
    if isinstance(feature, LargeList):
        return pa.large_list(feature_arrow_field("item", feature.feature))
    if isinstance(feature, List):
        return pa.list_(feature_arrow_field("item", feature.feature), feature.length)
    if callable(feature):
        return feature()
    raise DataError(f"{feature!r} is not a feature type (Value, ClassLabel, List, dict, ...)")


def generate_from_arrow_field(arrow_field: pa.Field):
    """The feature for a pyarrow field (inverse of `feature_arrow_field`)."""
    spec = array_spec_from_field(arrow_field)
    if spec is not None:
        shape, dtype = spec
        return _ARRAY_CLASSES[len(shape)](shape=shape, dtype=dtype)
    t = arrow_field.type
    if isinstance(t, pa.ExtensionType):
        t = t.storage_type
    if pa.types.is_struct(t):
        return {f.name: generate_from_arrow_field(f) for f in t}
    if pa.types.is_fixed_size_list(t):
        return List(generate_from_arrow_field(t.value_field), length=t.list_size)
    if pa.types.is_list(t):
        return List(generate_from_arrow_field(t.value_field))
    if pa.types.is_large_list(t):
        return LargeList(generate_from_arrow_field(t.value_field))
    return Value(arrow_to_dtype(t))


def generate_from_arrow_type(arrow_type: pa.DataType):
    """The feature for a pyarrow type."""
    return generate_from_arrow_field(pa.field("item", arrow_type))


# --- encoding -------------------------------------------------------------------------------


def cast_to_python_objects(obj: Any) -> Any:
    """torch / pandas values -> numpy / Python objects (numpy arrays are kept, as the reference)."""
    module = type(obj).__module__
    if module.startswith("numpy"):
        if getattr(obj, "ndim", None) == 0:
            return obj[()] if hasattr(obj, "__getitem__") else obj
        return obj
    if module.startswith("torch"):
        return cast_to_python_objects(obj.detach().cpu().float().numpy() if str(obj.dtype) == "torch.bfloat16"
                                      else obj.detach().cpu().numpy())
    if module.startswith("pandas"):
        if hasattr(obj, "to_pydatetime"):
            return obj.to_pydatetime()
        if hasattr(obj, "to_pytimedelta"):
            return obj.to_pytimedelta()
        if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
            return {k: cast_to_python_objects(v.tolist()) for k, v in obj.items()}
        if hasattr(obj, "tolist"):
            return cast_to_python_objects(obj.tolist())
    if isinstance(obj, Mapping):
        return {k: cast_to_python_objects(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and obj:
        first = next((x for x in obj if x is not None), None)
        if first is not None and _needs_python_cast(first):
            return [cast_to_python_objects(x) for x in obj]
    return obj


def _needs_python_cast(x: Any) -> bool:
    if isinstance(x, (str, bytes, int, float, bool)):
        return False
    if isinstance(x, Mapping):
        return True
    if isinstance(x, (list, tuple)):
        first = next((y for y in x if y is not None), None)
        return first is not None and _needs_python_cast(first)
    return type(x).__module__.split(".")[0] in ("numpy", "torch", "pandas")


def _first_meaningful(obj) -> Any:
    for item in obj:
        if item is not None and not (isinstance(item, (list, tuple)) and len(item) == 0):
            return item
    return obj[0]


def encode_nested_example(schema, obj, level: int = 0, path: str = ""):
    """Encode one value for Arrow (ClassLabel names -> ids, translations sorted, ...)."""
    if isinstance(schema, dict):
        if obj is None:
            if level == 0:
                raise DataError("Got None but expected a dictionary instead")
            return None
        if not isinstance(obj, Mapping):
            if isinstance(obj, (list, tuple)) and all(isinstance(f, (List, LargeList)) for f in schema.values()):
                # Sequence({...}) given as a list of dicts: transpose to the dict of lists it is stored as.
                obj = {k: [row.get(k) if isinstance(row, Mapping) else None for row in obj] for k in schema}
            else:
                raise DataError(f"column {path or '<row>'}: expected a dict with keys {list(schema)}, got {type(obj).__name__}")
        return {k: encode_nested_example(schema[k], obj.get(k), level + 1, f"{path}.{k}" if path else k) for k in schema}
    if isinstance(schema, (List, LargeList)):
        if obj is None:
            return None
        if isinstance(obj, (str, bytes)) or not hasattr(obj, "__len__"):
            raise DataError(f"column {path}: expected a list for {schema!r}, got {type(obj).__name__} {obj!r:.60}")
        if len(obj) > 0:
            sub = schema.feature
            first = _first_meaningful(obj)
            try:
                changed = bool(encode_nested_example(sub, first, level + 1, path) != first)
            except ValueError as e:  # comparing numpy arrays
                if isinstance(e, DataError):
                    raise
                changed = False
            if changed:
                return [encode_nested_example(sub, o, level + 1, path) for o in obj]
        return list(obj)
    if hasattr(schema, "encode_example"):
        if obj is None:
            return None
        try:
            return schema.encode_example(obj)
        except DataError as e:
            raise DataError(f"column {path}: {e}") from None
        except (TypeError, ValueError) as e:
            raise DataError(f"column {path}: cannot encode {obj!r:.60} as {schema!r}: {e}") from None
    return obj


def decode_nested_example(schema, obj):
    """Decode one stored value (identity for every feature here: none needs file decoding)."""
    if obj is None:
        return None
    if isinstance(schema, dict) and isinstance(obj, Mapping):
        return {k: decode_nested_example(schema[k], obj.get(k)) if k in schema else v for k, v in obj.items()}
    if hasattr(schema, "decode_example") and getattr(schema, "decode", True):
        return schema.decode_example(obj)
    return obj


def require_decoding(feature) -> bool:
    """Whether values of this feature need `decode_example` (only custom registered features do)."""
    if isinstance(feature, dict):
        return any(require_decoding(f) for f in feature.values())
    if isinstance(feature, (list, tuple)):
        return require_decoding(feature[0])
    if isinstance(feature, (List, LargeList)):
        return require_decoding(feature.feature)
    return hasattr(feature, "decode_example") and getattr(feature, "decode", True)


def _upgrade_old_lists(feature):
    """datasets < 4 wrote `[feature]` for lists: read it as List(feature)."""
    if isinstance(feature, list):
        return List(_upgrade_old_lists(feature[0]))
    if isinstance(feature, dict) and not isinstance(feature, Features):
        return {k: _upgrade_old_lists(v) for k, v in feature.items()}
    if isinstance(feature, List):
        return List(_upgrade_old_lists(feature.feature), length=feature.length, id=feature.id)
    if isinstance(feature, LargeList):
        return LargeList(_upgrade_old_lists(feature.feature), id=feature.id)
    return feature


# --- Features -------------------------------------------------------------------------------


class Features(dict):
    """Column name -> feature type; the schema of a dataset.

    >>> f = Features({"tokens": List(Value("string")), "meta": {"id": Value("int32")}})
    >>> f.type
    StructType(struct<tokens: list<item: string>, meta: struct<id: int32>>)
    >>> Features.from_dict(f.to_dict()) == f
    True
    """

    def __init__(*args, **kwargs):
        self, *args = args
        super(Features, self).__init__(*args, **kwargs)
        for name, feature in list(self.items()):
            dict.__setitem__(self, name, _upgrade_old_lists(feature))

    def __reduce__(self):
        return Features, (dict(self),)

    @property
    def type(self) -> pa.StructType:
        """The pyarrow struct type of a row."""
        return get_nested_type(self)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The pyarrow schema, with the features JSON under the "huggingface" metadata key."""
        metadata = {"info": {"features": self.to_dict()}}
        return pa.schema(list(self.type)).with_metadata({SCHEMA_METADATA_KEY: json.dumps(metadata)})

    @classmethod
    def from_arrow_schema(cls, pa_schema: pa.Schema) -> Features:
        """Features of an Arrow schema; the "huggingface" metadata restores ClassLabel etc. where it matches.

        >>> Features.from_arrow_schema(pa.schema({"x": pa.int32()}))
        {'x': Value('int32')}
        """
        from_metadata = Features()
        raw = (pa_schema.metadata or {}).get(SCHEMA_METADATA_KEY.encode())
        if raw is not None:
            try:
                info = json.loads(raw.decode()).get("info") or {}
            except (ValueError, AttributeError) as e:
                raise DataError(f"schema metadata 'huggingface' is not valid JSON: {e}") from e
            if info.get("features") is not None:
                from_metadata = Features.from_dict(info["features"])
        out = {}
        for arrow_field in pa_schema:
            declared = from_metadata.get(arrow_field.name)
            if declared is not None and strip_extension(get_nested_type(declared)) == strip_extension(arrow_field.type):
                out[arrow_field.name] = declared
            else:
                out[arrow_field.name] = generate_from_arrow_field(arrow_field)
        return cls(**out)

    @classmethod
    def from_dict(cls, dic: dict) -> Features:
        """Features from the dataset_info.json "features" object."""
        if not isinstance(dic, dict):
            raise DataError(f"features JSON must be an object mapping column -> feature; got {type(dic).__name__}")
        return cls(**generate_from_dict(dic))

    def to_dict(self) -> dict:
        """The dataset_info.json "features" object (same keys and order as datasets 5)."""
        return _asdict(dict(self))

    def encode_example(self, example: dict) -> dict:
        """Encode one row for Arrow (label names -> ids, numpy -> lists ...)."""
        return encode_nested_example(self, cast_to_python_objects(example))

    def encode_column(self, column, column_name: str) -> list:
        """Encode the values of one column."""
        column = cast_to_python_objects(column)
        return [encode_nested_example(self[column_name], v, level=1, path=column_name) for v in column]

    def encode_batch(self, batch: dict) -> dict:
        """Encode a dict of columns; the batch must have exactly the feature columns."""
        if set(batch) != set(self):
            missing, extra = sorted(set(self) - set(batch)), sorted(set(batch) - set(self))
            raise DataError(f"batch columns do not match the features: missing {missing}, unexpected {extra}")
        return {key: self.encode_column(column, key) for key, column in batch.items()}

    def decode_example(self, example: dict, token_per_repo_id=None) -> dict:
        """Decode one row (identity except for custom features that define decode_example)."""
        return {k: decode_nested_example(self[k], v) if k in self and require_decoding(self[k]) else v
                for k, v in example.items() if k in self}

    def decode_column(self, column: list, column_name: str, token_per_repo_id=None) -> list:
        feature = self[column_name]
        return [decode_nested_example(feature, v) for v in column] if require_decoding(feature) else column

    def decode_batch(self, batch: dict, token_per_repo_id=None) -> dict:
        return {k: self.decode_column(v, k) if k in self else v for k, v in batch.items()}

    def copy(self) -> Features:
        """A deep copy."""
        return copy.deepcopy(self)

    def reorder_fields_as(self, other: Features) -> Features:
        """The same features with struct fields ordered as in `other` (so the Arrow types match)."""

        def reorder(source, target, where: str):
            at = f" at {where}" if where else ""
            if isinstance(source, dict):
                if not isinstance(target, dict):
                    raise DataError(f"Type mismatch: between {source} and {target}{at}")
                if sorted(source) != sorted(target):
                    raise DataError(
                        f"Keys mismatch: between {source} (source) and {target} (target).\n"
                        f"{source.keys() - target.keys()} are missing from target "
                        f"and {target.keys() - source.keys()} are missing from source{at}"
                    )
                return {k: reorder(source[k], target[k], f"{where}.{k}" if where else k) for k in target}
            if isinstance(source, List):
                if not isinstance(target, List):
                    raise DataError(f"Type mismatch: between {source} and {target}{at}")
                return List(reorder(source.feature, target.feature, where + ".<list>"), length=source.length)
            if isinstance(source, LargeList):
                if not isinstance(target, LargeList):
                    raise DataError(f"Type mismatch: between {source} and {target}{at}")
                return LargeList(reorder(source.feature, target.feature, where + ".<list>"))
            return source

        return Features(reorder(self, other, ""))

    def flatten(self, max_depth: int = 16) -> Features:
        """Replace each dict column by its subfields named "<column>.<field>" (recursively).

        As the reference: untouched columns keep their place, expanded ones move to the end.
        """
        return _reference_flatten_order(self, max_depth)


def _reference_flatten_order(features: Features, max_depth: int) -> Features:
    """The reference's flatten key order: untouched columns keep their place, expanded ones go to the end."""
    current = features
    for _ in range(max_depth):
        changed = False
        out = dict(current)
        for name, feature in current.items():
            sub = None
            if isinstance(feature, dict):
                sub = feature
            elif hasattr(feature, "flatten") and not isinstance(feature, Features):
                sub = feature.flatten()
            if sub is not None:
                changed = True
                del out[name]
                out.update({f"{name}.{k}": v for k, v in sub.items()})
        current = Features(out)
        if not changed:
            break
    return current


def infer_features(data) -> Features:
    """Features of a pyarrow Table / Schema, or of a dict of Python columns (types inferred by pyarrow).

    >>> infer_features({"a": [1, 2], "b": [["x"], []]})
    {'a': Value('int64'), 'b': List(Value('string'))}
    """
    if isinstance(data, pa.Schema):
        return Features.from_arrow_schema(data)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return Features.from_arrow_schema(data.schema)
    if isinstance(data, Mapping):
        try:
            table = pa.table({k: pa.array(cast_to_python_objects(list(v) if not hasattr(v, "__array__") else v))
                              for k, v in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise DataError(f"cannot infer Arrow types of the columns {list(data)}: {e}") from e
        return Features.from_arrow_schema(table.schema)
    raise DataError(f"infer_features expects a pyarrow Table/Schema or a dict of columns; got {type(data).__name__}")


def cast_table(table: pa.Table, features: Features) -> pa.Table:
    """Cast every column of `table` to `features` (see snuggle.data.casting.cast_table)."""
    from snuggle.data.casting import cast_table as _cast_table

    return _cast_table(table, features)


FeatureType = Any  # Value | ClassLabel | List | LargeList | ArrayND | Translation | dict (for annotations)
