"""load_dataset / split inference / split slicing / file writers: snuggle vs the `datasets` reference.

Both libraries load the same files (the reference offline, both with cache dirs in tmp_path);
expected values are always computed by the reference in the same run.
"""

import gzip
import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from snuggle.data.data_files import get_data_patterns, resolve_data_files  # noqa: E402
from snuggle.data.load import load_dataset  # noqa: E402

datasets.disable_progress_bars()
S = "/work/shared/datasets/"


def ref_load(*args, cache, **kwargs):
    return datasets.load_dataset(*args, cache_dir=str(cache / "ref"), **kwargs)


def our_load(*args, cache, **kwargs):
    return load_dataset(*args, cache_dir=str(cache / "ours"), **kwargs)


def assert_same_dataset(ours, ref):
    assert ours.num_rows == ref.num_rows
    assert ours.features.to_dict() == ref.features.to_dict()
    assert ours.data.schema.equals(ref.data.table.schema, check_metadata=False)
    assert ours.to_list() == ref.data.table.to_pylist()
    assert str(ours.split) == str(ref.split)


def assert_same_dict(ours, ref):
    assert list(ours) == list(ref)
    for split in ref:
        assert_same_dataset(ours[split], ref[split])


CASES = [
    ("sst2_tsv", ("csv",), dict(data_files={"train": S + "sst2/train.tsv", "validation": S + "sst2/dev.tsv"},
                                sep="\t", quoting=3)),
    ("imdb_csv", ("csv",), dict(data_files={"train": S + "imdb/train.csv", "test": S + "imdb/test.csv"})),
    ("mrpc_tsv", ("csv",), dict(data_files={"train": S + "mrpc/train.tsv", "validation": S + "mrpc/dev.tsv"},
                                delimiter="\t", quoting=3)),
    ("conll_text", ("text",), dict(data_files={"train": S + "conll2003/train.txt", "test": S + "conll2003/test.txt"})),
    ("conll_paragraphs", ("text",), dict(data_files=S + "conll2003/valid.txt", sample_by="paragraph")),
    ("wikitext_linebreaks", ("text",), dict(data_files=S + "wikitext2/wiki.test.raw", keep_linebreaks=True)),
    ("shakespeare_document", ("text",), dict(data_files=S + "tinyshakespeare/input.txt", sample_by="document")),
    ("squad_field", ("json",), dict(data_files=S + "squad/dev-v1.1.json", field="data")),
    ("alpaca_array", ("json",), dict(data_files=S + "llamafactory/alpaca_en_demo.json")),
    ("dpo_nested", ("json",), dict(data_files=S + "llamafactory/dpo_en_demo.json")),
    ("c4_jsonl", ("json",), dict(data_files=S + "llamafactory/c4_demo.jsonl")),
    ("wiki_txt", ("text",), dict(data_files=S + "llamafactory/wiki_demo.txt")),
    ("imdb_folder", (S + "imdb",), {}),
    ("sst2_folder_glob", ("csv",), dict(data_files={"train": S + "sst2/tr*.tsv", "test": S + "sst2/dev.tsv"},
                                        sep="\t", quoting=3, column_names=["s", "l"], skiprows=1)),
]


@pytest.mark.parametrize("args, kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_load_shared_datasets(tmp_path, args, kwargs):
    assert_same_dict(our_load(*args, cache=tmp_path, **kwargs), ref_load(*args, cache=tmp_path, **kwargs))


def _write_folder(root):
    (root / "train.csv").write_text("text,label\nhello,1\nworld,0\nfoo,1\n")
    (root / "test.csv").write_text("text,label\nbar,0\n")
    (root / "README.md").write_text("# not data\n")


def test_folder_with_train_and_test_csv(tmp_path):
    root = tmp_path / "my_data"
    root.mkdir()
    _write_folder(root)
    assert_same_dict(our_load(str(root), cache=tmp_path), ref_load(str(root), cache=tmp_path))


def test_parquet_files_in_sharded_layout(tmp_path):
    root = tmp_path / "pq"
    (root / "data").mkdir(parents=True)
    table = pa.table({"id": list(range(50)), "text": [f"row {i}" for i in range(50)],
                      "tags": [[i, i + 1] for i in range(50)]})
    pq.write_table(table.slice(0, 30), root / "data" / "train-00000-of-00002.parquet", row_group_size=7)
    pq.write_table(table.slice(30, 10), root / "data" / "train-00001-of-00002.parquet")
    pq.write_table(table.slice(40), root / "data" / "test-00000-of-00001.parquet")
    assert_same_dict(our_load(str(root), cache=tmp_path), ref_load(str(root), cache=tmp_path))
    kwargs = dict(data_files={"train": str(root / "data" / "train-*.parquet")}, columns=["text", "id"])
    assert_same_dict(our_load("parquet", cache=tmp_path, **kwargs), ref_load("parquet", cache=tmp_path, **kwargs))


def test_arrow_files(tmp_path):
    ref = ref_load("csv", cache=tmp_path, data_files=S + "imdb/validation.csv")["train"]
    path = ref.cache_files[0]["filename"]
    assert_same_dict(our_load("arrow", cache=tmp_path, data_files=path),
                     ref_load("arrow", cache=tmp_path, data_files=path))


SPLIT_SPECS = ["train", "train[:10%]", "train[10:20]", "train[:-100]", "train[50%:]", "train+test",
               "train[:10%]+test[-5:]", "test[:33%](pct1_dropremainder)", "validation[-7%:]", "all"]


@pytest.mark.parametrize("spec", SPLIT_SPECS)
def test_split_slicing(tmp_path, spec):
    ours = our_load(S + "imdb", cache=tmp_path, split=spec)
    ref = ref_load(S + "imdb", cache=tmp_path, split=spec)
    assert_same_dataset(ours, ref)


def test_split_list(tmp_path):
    specs = ["train[:3]", "test[-2:]"]
    for ours, ref in zip(our_load(S + "imdb", cache=tmp_path, split=specs), ref_load(S + "imdb", cache=tmp_path, split=specs)):
        assert_same_dataset(ours, ref)


LAYOUTS = {
    "flat": ["train.csv", "test.csv", "README.md"],
    "keywords": ["my_train_0.jsonl", "my_train_1.jsonl", "dev.jsonl", "eval-set.jsonl", "val.jsonl"],
    "dirs": ["data/train/a.csv", "data/train/b.csv", "data/test/c.csv", "test.csv"],
    "dir_keywords": ["train_set/a.txt", "x-valid/b.txt"],
    "sharded": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet",
                "data/random-00000-of-00001.parquet"],
    "no_keyword": ["a.txt", "sub/b.txt", ".hidden.txt", "__pycache__/c.txt", "contest.txt"],
    "mixed": ["training.csv", "testing.csv", "evaluation.csv", "other.csv"],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_split_inference_matches_reference(tmp_path, layout):
    from datasets.data_files import DataFilesDict
    from datasets.data_files import get_data_patterns as ref_get_data_patterns

    for name in LAYOUTS[layout]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a\n1\n")
    ref_patterns = ref_get_data_patterns(str(tmp_path))
    ref_files = DataFilesDict.from_patterns(ref_patterns, base_path=str(tmp_path))
    ours = resolve_data_files(get_data_patterns(str(tmp_path)), str(tmp_path))
    assert {k: list(v) for k, v in ours.items()} == {k: list(v) for k, v in ref_files.items()}


def test_writers_are_byte_identical_and_readable(tmp_path):
    from snuggle.data.arrow_dataset import Dataset
    from snuggle.data.io import dataset_to_csv, dataset_to_json, dataset_to_parquet

    columns = {"text": ["a,b", 'say "hi"', "x\ny", "é"], "label": [0, 1, None, 3], "score": [0.5, 1.25, 2.0, -1.0],
               "tags": [["a"], [], ["b", "c"], None], "meta": [{"k": 1}, {"k": 2}, {"k": None}, {"k": 4}]}
    ours = Dataset.from_dict(columns)
    ref = datasets.Dataset.from_dict(columns)
    for name, write_ours, write_ref, kwargs in [
        ("a.csv", dataset_to_csv, ref.to_csv, {}),
        ("b.tsv", dataset_to_csv, ref.to_csv, {"sep": "\t", "index": True}),
        ("c.jsonl", dataset_to_json, ref.to_json, {}),
        ("d.json", dataset_to_json, ref.to_json, {"lines": False, "orient": "records"}),
        ("e.json", dataset_to_json, ref.to_json, {"orient": "split", "lines": False}),
        ("f.jsonl", dataset_to_json, ref.to_json, {"batch_size": 3, "force_ascii": False}),
        ("g.parquet", dataset_to_parquet, ref.to_parquet, {}),
        ("h.parquet", dataset_to_parquet, ref.to_parquet, {"batch_size": 2}),
        ("i.jsonl.gz", dataset_to_json, ref.to_json, {}),
    ]:
        (tmp_path / "ours").mkdir(exist_ok=True)
        (tmp_path / "ref").mkdir(exist_ok=True)
        n_ours = write_ours(ours, str(tmp_path / "ours" / name), **kwargs)
        n_ref = write_ref(str(tmp_path / "ref" / name), **kwargs)
        assert n_ours == n_ref, name
        ours_bytes, ref_bytes = (tmp_path / "ours" / name).read_bytes(), (tmp_path / "ref" / name).read_bytes()
        if name.endswith(".gz"):  # the reference's gzip header holds the current time: compare the content
            ours_bytes, ref_bytes = gzip.decompress(ours_bytes), gzip.decompress(ref_bytes)
        assert ours_bytes == ref_bytes, name
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / "ours" / "g.parquet"),
                                 cache_dir=str(tmp_path / "c"))["train"]
    assert back.to_list() == ref.to_list()
    back = datasets.load_dataset("json", data_files=str(tmp_path / "ours" / "c.jsonl"), cache_dir=str(tmp_path / "c"))
    assert back["train"]["text"] == columns["text"]


def test_writers_follow_the_indices_mapping(tmp_path):
    from snuggle.data.arrow_dataset import Dataset
    from snuggle.data.io import dataset_to_csv, dataset_to_json

    columns = {"n": list(range(10)), "s": [str(i) for i in range(10)]}
    ours = Dataset.from_dict(columns).select([7, 2, 5])
    ref = datasets.Dataset.from_dict(columns).select([7, 2, 5])
    dataset_to_csv(ours, str(tmp_path / "o.csv"))
    ref.to_csv(str(tmp_path / "r.csv"))
    assert (tmp_path / "o.csv").read_bytes() == (tmp_path / "r.csv").read_bytes()
    dataset_to_json(ours, str(tmp_path / "o.jsonl"), batch_size=2)
    ref.to_json(str(tmp_path / "r.jsonl"), batch_size=2)
    assert (tmp_path / "o.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()
