"""A warehouse analysts share: what they build on and in the published schemas, and what they
grant, is there and works after every publish, whichever command publishes; what cannot be
kept is named, and the publish goes on."""

from __future__ import annotations

import uuid

from helpers import admin, assert_whole, cli, dbt, published, query

DAY2, DAY3 = "2024-01-16", "2024-01-17"
READER, PROJECT_READER = (f"bi_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("reader", "project"))
PUBLISHED = ("raw", "marts", "history")

# What the analysts built, as they would: in a schema of their own, on each published
# schema, a view on a view, a materialized view with an index, and objects inside marts.
USERS_OBJECTS = f"""
create schema reporting;
create view reporting.current_customers as
    select customer_id, company_name from history.customers where valid_to is null;
create view reporting.big_lines as
    select order_id, product_id, line_total from marts.order_lines where line_total > 100;
create view reporting.biggest_lines as select * from reporting.big_lines where line_total > 1000;
create view reporting.raw_orders as select order_id, customer_id from raw.orders;
create view reporting.notes as select id, note from raw.extra_notes;
create materialized view reporting.lines_per_order as
    select order_id, count(*) as lines from marts.order_lines group by 1;
create unique index lines_per_order_key on reporting.lines_per_order (order_id);
comment on view reporting.big_lines is 'lines over 100';
create view marts.my_lines as select order_id, line_total from marts.order_lines;
create table marts.my_notes (order_id int, note text);
insert into marts.my_notes values (1, 'kept');
create index my_lines_by_customer on marts.order_lines (customer_id);
alter table marts.orders enable row level security;
create policy big_orders on marts.orders for select to {READER} using (order_total > 100);
grant usage on schema reporting, marts to {READER};
grant select on marts.order_lines, reporting.big_lines to {READER};
grant select (order_id) on marts.orders to {READER};
alter default privileges in schema history grant select on tables to {READER};
create view marts.on_my_notes as select * from marts.my_notes;
alter default privileges in schema marts grant select on tables to {PROJECT_READER};
"""
VIEWS = ("current_customers", "big_lines", "biggest_lines", "raw_orders", "notes", "lines_per_order")


def assert_kept(dsn: str, *, notes: bool = True) -> None:
    """Every object of USERS_OBJECTS is there, reads, and holds what it was granted."""
    for view in (view for view in VIEWS if notes or view != "notes"):
        assert query(dsn, f"select count(*) from reporting.{view}")[0][0] >= 0, view
    per_order = (
        "select order_id, count(*) from marts.order_lines group by 1 except select * from reporting.lines_per_order"
    )
    assert query(dsn, per_order) == []  # the materialized view holds the day published
    assert query(dsn, "select count(*) from marts.my_lines") == query(dsn, "select count(*) from marts.order_lines")
    assert query(dsn, "select note from marts.my_notes") == [("kept",)]
    assert query(dsn, "select obj_description('reporting.big_lines'::regclass)") == [("lines over 100",)]
    indexes = "select count(*) from pg_indexes where indexname in ('my_lines_by_customer', 'lines_per_order_key')"
    assert query(dsn, indexes) == [(2,)]
    privileges = f"""
        select has_schema_privilege('{READER}', 'marts', 'usage'),
            has_table_privilege('{READER}', 'marts.order_lines', 'select'),
            has_table_privilege('{READER}', 'reporting.big_lines', 'select'),
            has_column_privilege('{READER}', 'marts.orders', 'order_id', 'select'),
            not has_table_privilege('{READER}', 'marts.orders', 'select'),
            has_table_privilege('{READER}', 'history.customers', 'select')
    """
    assert query(dsn, privileges) == [(True,) * 6]
    assert query(dsn, f"select has_table_privilege('{PROJECT_READER}', 'marts.my_lines', 'select')") == [(False,)]
    policies = "select relrowsecurity, (select count(*) from pg_policies where tablename = 'orders') from pg_class"
    assert query(dsn, policies + " where oid = 'marts.orders'::regclass") == [(True, 1)]
    # The project's own grants (WAREHOUSE_READERS) reach every published table.
    tables = "select schemaname || '.' || quote_ident(tablename) from pg_tables where schemaname = any(%s)"
    for (table,) in query(dsn, tables, (list(PUBLISHED),)):
        if table != "marts.my_notes":
            assert query(dsn, f"select has_table_privilege('{PROJECT_READER}', '{table}', 'select')") == [(True,)], (
                table
            )


def test_users_objects_and_grants_survive_every_publish(loaded, lake_env, tmp_path):
    settings, dsn = loaded, loaded.dsn("warehouse")
    source = settings.dsn("source")
    env = {**lake_env, "WAREHOUSE_READERS": PROJECT_READER}
    admin(settings, f"create role {READER}", f"create role {PROJECT_READER}")
    query(
        source,
        "create table public.extra_notes (id int primary key, note text); insert into extra_notes values (1, 'a')",
    )

    # make load of a new day.
    assert cli(env, "extract", "--date", DAY2).returncode == 0
    result = cli(env, "load", "--date", DAY2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    query(dsn, USERS_OBJECTS)

    # A bare `dbt build --full-refresh`, then the postgres target twice, with a view on its own
    # schema made after the first.
    dbt_env = {"LAKEHOUSE_RUN_DATE": DAY2, "WAREHOUSE_READERS": PROJECT_READER}
    for args in (("build", "--full-refresh"), ("build", "--target", "postgres"), ("build", "--target", "postgres")):
        result = dbt(settings, *args, env=dbt_env)
        assert result.success, result.output[-3000:]
        assert_kept(dsn)
        if args[-1] == "postgres" and not query(dsn, "select to_regclass('reporting.postgres_lines')")[0][0]:
            query(dsn, "create view reporting.postgres_lines as select * from postgres_marts.order_lines")
    lines = "select count(*) from reporting.postgres_lines"
    assert query(dsn, lines) == query(dsn, "select count(*) from marts.order_lines")

    # A reader role the warehouse does not have refuses the run before anything is built.
    result = dbt(settings, "build", env={**dbt_env, "WAREHOUSE_READERS": f"{PROJECT_READER},nosuch"})
    assert not result.success
    assert f'refused for {DAY2}: WAREHOUSE_READERS names "nosuch", which the warehouse has no role for' in result.output
    assert_kept(dsn)

    # A failed test publishes nothing and touches nothing.
    before = published(settings)
    lines = settings.demo_csv.read_text().splitlines()
    duplicated = tmp_path / "order_details.csv"
    duplicated.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert cli(env, "extract", "--date", DAY3, "--csv", str(duplicated)).returncode == 0
    assert not dbt(settings, "build", env={**dbt_env, "LAKEHOUSE_RUN_DATE": DAY3}).success
    assert published(settings) == before
    assert_kept(dsn)

    # A rerun of the day, after the source dropped the column a user's view reads: that view
    # alone is named, not kept, and the day publishes.
    query(source, "alter table extra_notes drop column note")
    assert cli(env, "extract", "--date", DAY2).returncode == 0
    result = cli(env, "load", "--date", DAY2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert 'not kept: reporting.notes (view): column "note" does not exist' in result.stdout
    assert "on_my_notes" not in result.stdout, result.stdout
    assert_whole(settings, DAY2)
    assert_kept(dsn, notes=False)
    assert query(dsn, "select to_regclass('reporting.notes')") == [(None,)]
    status = cli(env, "status", "--date", DAY2).stdout
    assert 'not kept: reporting.notes (view): column "note" does not exist' in status
