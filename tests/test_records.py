import pyarrow as pa
import pytest

from stackwright.records import BASE_SCHEMA, BatchBuilder, RepoInfo, extension_of, field


@pytest.mark.parametrize(
    ("path", "ext"),
    [("a/b/main.PY", "py"), ("Makefile", ""), (".bashrc", ""), ("x/.eslintrc.json", "json"),
     ("archive.tar.gz", "gz"), ("dir.d/file", "")],
)
def test_extension_follows_linguist_rules(path: str, ext: str) -> None:
    assert extension_of(path) == ext


def test_batch_builder_fills_every_base_column() -> None:
    builder = BatchBuilder()
    repo = RepoInfo("octo/cat", "a" * 40, "MIT")
    builder.append(repo, "src/app.js", "let x = 1;\n", 11)
    builder.append(RepoInfo("octo/dog"), "README", "hi\n", 3)
    assert builder.content_bytes == 14
    batch = builder.flush()
    assert batch.schema == BASE_SCHEMA
    assert batch.to_pylist() == [
        {"repo": "octo/cat", "path": "src/app.js", "commit": "a" * 40, "content": "let x = 1;\n",
         "size_bytes": 11, "extension": "js", "declared_license": "MIT"},
        {"repo": "octo/dog", "path": "README", "commit": None, "content": "hi\n",
         "size_bytes": 3, "extension": "", "declared_license": None},
    ]
    assert len(builder) == 0 and builder.flush().num_rows == 0


def test_later_columns_are_declared_once() -> None:
    assert field("license_category").type == pa.string()
    assert field("stars").type == pa.int64()
    with pytest.raises(KeyError, match="declare it"):
        field("licence")
