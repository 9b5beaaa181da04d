"""Unit tests of snuggle.data.features and snuggle.data.casting."""

from __future__ import annotations

import datetime
import pickle

import numpy as np
import pyarrow as pa
import pytest

from snuggle.data.arrow_dtypes import arrow_to_dtype, dtype_to_arrow
from snuggle.data.casting import cast_array_to_feature, cast_table
from snuggle.data.features import (
    Array2D,
    Array3D,
    ClassLabel,
    Features,
    LargeList,
    List,
    Sequence,
    Translation,
    TranslationVariableLanguages,
    Value,
    infer_features,
)
from snuggle.errors import DataError

ALL_DTYPES = [
    "null", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64", "string", "large_string", "binary", "large_binary", "date32", "date64", "timestamp[s]",
    "timestamp[ns, tz=UTC]", "timestamp[us, tz=America/New_York]", "time32[ms]", "time64[ns]", "duration[us]",
    "decimal128(10, 2)", "decimal256(40, -3)", "fixed_size_binary[4]",
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_dtype_round_trip(dtype):
    assert arrow_to_dtype(dtype_to_arrow(dtype)) == dtype
    assert Value(dtype)() == dtype_to_arrow(dtype)


def test_dtype_aliases_and_errors():
    assert Value("float").dtype == "float32" and Value("double").dtype == "float64"
    with pytest.raises(DataError, match="unknown Value dtype 'int128'"):
        Value("int128")
    with pytest.raises(DataError, match="time32"):
        Value("time32[us]")


def test_class_label():
    c = ClassLabel(names=["neg", "pos"])
    assert c.num_classes == 2 and c.str2int(["pos", " neg ", "1"]) == [1, 0, 1]
    assert c.int2str(1) == "pos" and c.int2str(np.int64(0)) == "neg"
    assert ClassLabel(num_classes=3).names == ["0", "1", "2"]
    with pytest.raises(DataError, match="Invalid string class label 'maybe'"):
        c.str2int("maybe")
    with pytest.raises(DataError, match="Invalid integer class label 2"):
        c.int2str(2)
    with pytest.raises(DataError, match="out of range"):
        c.encode_example(5)
    with pytest.raises(DataError, match="unique"):
        ClassLabel(names=["a", "a"])
    with pytest.raises(DataError, match="num_classes=3"):
        ClassLabel(num_classes=3, names=["a"])
    assert c.encode_example(-1) == -1


def test_class_label_names_file(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("cat\n\ndog\n  bird \n")
    assert ClassLabel(names_file=str(p)).names == ["cat", "dog", "bird"]
    with pytest.raises(DataError, match="cannot be read"):
        ClassLabel(names_file=str(tmp_path / "missing.txt"))


def test_sequence_of_dict_is_dict_of_lists():
    s = Sequence({"a": Value("int32"), "b": Value("string")})
    assert s == {"a": List(Value("int32")), "b": List(Value("string"))}
    assert isinstance(Sequence(Value("int8")), List) and isinstance(List(Value("int8")), Sequence)
    f = Features({"s": s})
    # a list of dicts is transposed to the dict of lists it is stored as
    assert f.encode_example({"s": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}) == {"s": {"a": [1, 2], "b": ["x", "y"]}}


def test_features_dict_round_trip_and_type():
    f = Features({
        "text": Value("string"),
        "label": ClassLabel(names=["a", "b"]),
        "tokens": List(Value("string")),
        "fixed": List(Value("float32"), length=3),
        "big": LargeList(Value("int64")),
        "nested": {"x": Value("int8"), "y": List({"z": Value("bool")})},
        "matrix": Array2D(shape=(2, 2), dtype="int32"),
        "cube": Array3D(shape=(None, 2, 2), dtype="float64"),
        "tr": Translation(languages=["fr", "en"]),
        "trv": TranslationVariableLanguages(languages=["en", "de"]),
    })
    assert Features.from_dict(f.to_dict()) == f
    assert Features.from_arrow_schema(f.arrow_schema) == f
    assert f.type.field("fixed").type == pa.list_(pa.float32(), 3)
    assert f.type.field("tr").type == pa.struct({"en": pa.string(), "fr": pa.string()})
    assert pickle.loads(pickle.dumps(f)) == f
    assert f.copy() == f and f.copy() is not f
    assert repr(Features({"a": List(Value("int8"), length=2)})) == "{'a': List(Value('int8'), length=2)}"


def test_old_list_syntax_and_reorder():
    assert Features({"a": [Value("int32")]}) == Features({"a": List(Value("int32"))})
    assert Features.from_dict({"a": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"}})["a"] == List(Value("int32"))
    f1 = Features({"root": {"a": Value("string"), "b": Value("string")}})
    f2 = Features({"root": {"b": Value("string"), "a": Value("string")}})
    assert f1.reorder_fields_as(f2).type == f2.type
    with pytest.raises(DataError, match="Keys mismatch"):
        f1.reorder_fields_as(Features({"root": {"c": Value("string")}}))


def test_from_dict_unknown_type():
    with pytest.raises(DataError, match="unknown feature _type 'Foo'.*known types"):
        Features.from_dict({"a": {"_type": "Foo"}})


def test_flatten():
    f = Features({"a": Value("int8"), "n": {"x": {"y": Value("bool")}}, "t": Translation(languages=["en"])})
    # expanded columns move to the end, one level per pass (as the reference)
    assert list(f.flatten()) == ["a", "t.en", "n.x.y"]


def test_encode_example_batch_and_errors():
    f = Features({"label": ClassLabel(names=["neg", "pos"]), "n": Value("int64"), "v": List(Value("float32"))})
    assert f.encode_example({"label": "pos", "n": np.int64(3), "v": np.array([1.0, 2.0])})["label"] == 1
    assert f.encode_batch({"label": ["neg", 1], "n": [1, 2], "v": [[1.0], []]}) == {
        "label": [0, 1], "n": [1, 2], "v": [[1.0], []]}
    with pytest.raises(DataError, match="missing \\['v'\\]"):
        f.encode_batch({"label": [0], "n": [1]})
    with pytest.raises(DataError, match="column label.*'meh'"):
        f.encode_example({"label": "meh", "n": 1, "v": []})
    with pytest.raises(DataError, match="column v: expected a list"):
        f.encode_example({"label": 0, "n": 1, "v": "abc"})


def test_translation_variable_languages():
    t = TranslationVariableLanguages(languages=["en", "fr", "de"])
    assert t.num_languages == 3
    out = t.encode_example({"fr": ["le chat", "la chatte"], "en": "the cat"})
    assert out == {"language": ("en", "fr", "fr"), "translation": ("the cat", "la chatte", "le chat")}
    with pytest.raises(DataError, match="not in valid set"):
        t.encode_example({"xx": "?"})


def test_infer_features():
    f = infer_features({"a": [1, 2], "b": ["x", None], "c": [[1.5], []], "d": [{"k": True}, None],
                        "e": [datetime.date(2020, 1, 1), None]})
    assert f == Features({"a": Value("int64"), "b": Value("string"), "c": List(Value("float64")),
                          "d": {"k": Value("bool")}, "e": Value("date32")})
    assert infer_features(pa.table({"x": pa.array([1], pa.int8())})) == Features({"x": Value("int8")})
    with pytest.raises(DataError):
        infer_features(42)


def test_cast_table_vectorised():
    t = pa.table({
        "label": ["pos", "neg", None, "1"],
        "n": [1, 2, 3, 4],
        "fixed": [[1, 2], [3, 4], None, [5, 6]],
        "m": [[[1, 2], [3, 4]]] * 4,
        "s": [{"a": 1}, None, {"a": 3}, {"a": 4}],
    })
    f = Features({
        "n": Value("float32"),
        "label": ClassLabel(names=["neg", "pos"]),
        "fixed": List(Value("int16"), length=2),
        "m": Array2D(shape=(2, 2), dtype="float32"),
        "s": {"a": Value("int8"), "b": Value("string")},
    })
    out = cast_table(t, f)
    assert out.schema.equals(f.arrow_schema, check_metadata=True)
    assert out.column_names == ["n", "label", "fixed", "m", "s"]
    assert out.column("label").to_pylist() == [1, 0, None, 1]
    assert out.column("fixed").to_pylist() == [[1, 2], [3, 4], None, [5, 6]]
    assert out.column("s").to_pylist()[:2] == [{"a": 1, "b": None}, None]
    assert Features.from_arrow_schema(out.schema) == f


def test_cast_table_chunked_and_sliced():
    t = pa.concat_tables([pa.table({"x": [[1], [2, 3]]}), pa.table({"x": [[4, 5, 6]]})]).slice(1)
    out = cast_table(t, Features({"x": LargeList(Value("int32"))}))
    assert out.column("x").to_pylist() == [[2, 3], [4, 5, 6]]
    assert out.schema.field("x").type == pa.large_list(pa.int32())


def test_cast_errors_name_column_and_types():
    with pytest.raises(DataError, match=r"missing \['b'\], unexpected \['c'\]"):
        cast_table(pa.table({"a": [1], "c": [2]}), Features({"a": Value("int8"), "b": Value("int8")}))
    with pytest.raises(DataError, match="column 'a': cannot cast Arrow type string to Value\\('int64'\\)"):
        cast_table(pa.table({"a": ["x"]}), Features({"a": Value("int64")}))
    with pytest.raises(DataError, match="unknown class label\\(s\\) 'maybe'"):
        cast_table(pa.table({"l": ["yes", "maybe"]}), Features({"l": ClassLabel(names=["yes", "no"])}))
    with pytest.raises(DataError, match="class label 7 out of range"):
        cast_table(pa.table({"l": [0, 7]}), Features({"l": ClassLabel(names=["yes", "no"])}))
    with pytest.raises(DataError, match="row 1 has a list of length 1, expected 2"):
        cast_table(pa.table({"l": [[1, 2], [3]]}), Features({"l": List(Value("int8"), length=2)}))
    with pytest.raises(DataError, match="column 'a.b'"):
        cast_array_to_feature(pa.array([{"b": "x"}]), {"b": Value("int32")}, "a")
    with pytest.raises(DataError, match="value 300|out of bounds|overflow|Integer value"):
        cast_table(pa.table({"a": [300]}), Features({"a": Value("int8")}))
