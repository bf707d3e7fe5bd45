"""Atheris harness: the parser and printer round trip, fuzzed from raw bytes.

For any input text our parser accepts, printing it (canonically and as a random surface
variant chosen by the rest of the bytes) and parsing the print must give the same tree.
Input the parser rejects must be rejected with :class:`PromQLSyntaxError`, never another
exception. Run it bounded::

    python -m promfuzz.promql.fuzz_roundtrip -runs=20000 -max_len=256

(``make test`` runs a bounded number of iterations; longer runs are for people.)
"""

from __future__ import annotations

import sys

from promfuzz.errors import PromQLSyntaxError


def check_one(data: bytes) -> None:
    """The property for one input; raises AssertionError (a finding) when it fails."""
    from promfuzz.generators.choices import AtherisChoices
    from promfuzz.promql import parse, to_text, to_text_variant

    split = data.find(b"\x00")
    text_bytes, rest = (data, b"") if split < 0 else (data[:split], data[split + 1 :])
    text = text_bytes.decode("utf-8", errors="replace")
    try:
        tree = parse(text)
    except PromQLSyntaxError:
        return
    canonical = to_text(tree)
    again = parse(canonical)
    assert again == tree, f"canonical print changes the tree: {text!r} -> {canonical!r}"
    assert to_text(again) == canonical, f"canonical print is not stable: {canonical!r}"
    variant = to_text_variant(tree, AtherisChoices(rest))
    assert parse(variant) == tree, f"surface variant changes the tree: {canonical!r} -> {variant!r}"


def main(argv: list[str] | None = None) -> None:
    import atheris

    import promfuzz.promql  # noqa: F401  (already imported when run with -m)

    # The package is imported before this module runs, so instrument what is loaded.
    atheris.instrument_all()
    atheris.Setup(list(argv if argv is not None else sys.argv), check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
