"""The README's Python examples, run as written, print what their comments say they print
(and warn about nothing: warnings are errors in this suite)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _normalised(text):
    """One line, no spaces just inside brackets: numpy's padding differs from the comment's."""
    text = " ".join(text.split())
    return re.sub(r"\s+\]", "]", re.sub(r"\[\s+", "[", text))


def _claims(block):
    """The comment of each print statement that shows an output, from its first '[' or digit."""
    claims = []
    for line in block.splitlines():
        m = re.match(r"\s*print\(.*\)\s*#\s*(.*)$", line)
        if m:
            start = re.search(r"[\[\d-]", m.group(1))
            claims.append(m.group(1)[start.start():] if start else None)
    return claims


def test_the_examples_print_what_their_comments_say(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the first example writes model.npz
    blocks = _blocks()
    assert len(blocks) == 3
    printed = []
    namespace = {"print": lambda *args: printed.append(" ".join(str(a) for a in args))}
    claims = []
    for block in blocks:  # in order: the third continues the second
        exec(compile(block, str(README), "exec"), namespace)
        claims += _claims(block)
    assert len(printed) == len(claims) == 5
    for got, want in zip(printed, claims):
        assert want is not None
        assert _normalised(got) == _normalised(want)
    assert (tmp_path / "model.npz").exists()
