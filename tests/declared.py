"""A declared list's refusal, as a contributor reads it: the file, the line of the bad entry, what is
wrong and how to fix it."""
import pytest


def assert_refused(path, entry: str, load, error: type[Exception], says: str) -> None:
    """`entry` after a comment line in `path`, loaded by `load`: refused with `error` naming the file
    and the entry's last line, saying `says`, and after " - " the fix."""
    path.write_text("# the declared list\n" + entry + "\n", encoding="utf-8")
    with pytest.raises(error) as raised:
        load(path)
    line = 1 + entry.count("\n") + 1  # the comment, then the entry's last line
    assert str(raised.value).startswith(f"{path}:{line}: "), str(raised.value)
    assert says in str(raised.value)
    assert " - " in str(raised.value)
