"""Which source tables step 1 takes, and the names they get: public keeps its own, no two others share one."""

from __future__ import annotations

import fnmatch
import itertools

from extract.config import load_settings
from extract.report import rerun_command
from extract.source_tables import NAME_LIMIT, Selection, exclude_pattern, lake_name, name_problems

AWKWARD = ["public", "sales", "a.b", "a", 'q"uote', "b.c", "", "x y", '"a.b"']


def test_public_keeps_its_names_and_no_two_tables_of_other_schemas_share_one():
    assert lake_name("public", "orders") == "orders"
    assert lake_name("sales", "orders") == "sales.orders"
    assert lake_name("a.b", "c") == '"a.b".c'
    others = [(schema, table) for schema, table in itertools.product(AWKWARD, AWKWARD) if schema != "public"]
    names = [lake_name(schema, table) for schema, table in others]
    assert len(set(names)) == len(names)


def test_a_name_the_lake_cannot_hold_is_refused_with_the_table_to_leave_out():
    assert name_problems([("public", "orders"), ("sales", "orders"), ("sales", "order lines")]) == []
    clash = name_problems([("public", "sales.orders"), ("sales", "orders")])
    said = "public.sales.orders and sales.orders would share the name sales.orders in the lake (case aside)"
    assert clash == [("public.sales.orders", said)]
    assert [out for out, _ in name_problems([("public", "Orders"), ("public", "orders")])] == [
        "public.Orders",
        "public.orders",
    ]
    assert name_problems([("public", "order_details")], taken=["order_details"])[0][0] == "public.order_details"
    long = "s" * 40, "t" * (NAME_LIMIT - 40)
    assert [table for table, _ in name_problems([long])] == [".".join(long)]
    for folder in ("a/b", ".hidden", "a*", "b[1]", "a,b", "a`b"):
        assert name_problems([("public", folder)]), folder


def test_schemas_and_patterns_narrow_the_tables_taken():
    every = Selection()
    assert every.takes("public", "orders") and every.takes("sales", "order lines")
    narrowed = Selection(schemas=("public", "sal*"), include=("*.orders", "sales.*"), exclude=("sales.order l*",))
    assert narrowed.takes("public", "orders") and narrowed.takes("sales", "orders")
    assert not narrowed.takes("public", "customers")  # not included
    assert not narrowed.takes("sales", "order lines")  # excluded
    assert not narrowed.takes("hr", "orders")  # not one of the schemas
    assert not Selection(exclude=("orders",)).takes("public", "orders")  # by its lake name too
    assert Selection(exclude=("orders",)).takes("sales", "orders")


def test_a_table_is_left_out_by_the_pattern_its_refusal_gives():
    for name in ("a*", "b[1]", "c?", "sales.orders"):
        pattern = exclude_pattern(name)
        assert fnmatch.fnmatchcase(name, pattern)
        assert not fnmatch.fnmatchcase(name + "x", pattern) and not fnmatch.fnmatchcase("ab", pattern)


def test_the_environment_gives_the_selection():
    settings = load_settings(
        {"SOURCE_SCHEMAS": "public, sales", "SOURCE_INCLUDE": "*.orders", "SOURCE_EXCLUDE": "a,b,"}
    )
    assert settings.source_tables == Selection(("public", "sales"), ("*.orders",), ("a", "b"))
    assert load_settings({}).source_tables == Selection()


def test_a_rerun_takes_the_tables_the_run_took():
    selection = Selection(schemas=("public", "sales"), exclude=("sales.order l*",))
    failed = {"step": "extract_postgres", "status": "failed", "inputs": {"tables": selection.settings()}}
    command = rerun_command([failed], "2024-01-15")
    assert command.endswith("DATE=2024-01-15 SOURCE_SCHEMAS=public,sales SOURCE_EXCLUDE='sales.order l*'")
    assert load_settings(selection.settings()).source_tables == selection
