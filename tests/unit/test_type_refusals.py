"""Which source column types the lakehouse carries, and why it refuses the others."""

from __future__ import annotations

from extract.types import Column, refusal, travels_as_text


def _column(type_name: str, kind: str = "b", **fields) -> Column:
    return Column("c", type_name, type_name, kind, -1, **fields)


def test_built_in_enum_and_composite_types_and_their_arrays_are_carried():
    carried = [
        _column("int4"),
        _column("timetz"),
        _column("mood", "e", type_schema="public"),
        _column("_mood", element=("mood", "e", "public"), type_schema="public"),
        _column("address", "c", type_schema="sales", fields=(("street text",), True)),
        _column("_address", element=("address", "c", "sales"), fields=(("street text",), True)),
        _column("_inet", element=("inet", "b", "pg_catalog")),
    ]
    assert [refusal(column) for column in carried] == [None] * len(carried)
    assert [travels_as_text(column) for column in carried[1:]] == [True, False, True, True, True, True]


def test_what_is_refused_is_named():
    refused = {
        "a pseudo-type": _column("anyelement", "p"),
        "a composite type with a field of a type not built in": _column("pair", "c", fields=(("v vector",), False)),
        "a domain over a composite type": _column("pair", "c", fields=(("x int",), True), domain=("d", ())),
        "an array of a domain": _column("_d", element=("d", "d", "public")),
        "an array of a type that is not built in": _column("_vector", element=("vector", "b", "public")),
        "a type the warehouse does not have (an extension's or the database's own)": _column(
            "vector", type_schema="public"
        ),
    }
    assert {reason: refusal(column) for reason, column in refused.items()} == {r: r for r in refused}
