{#
    Write-audit-publish. Every relation keeps its published name in the manifest, so
    docs, `dbt test`, `dbt show` and `dbt compile` read what readers see. Only commands
    that write models (build and run; `dbt retry` reruns them as such) redirect, at run
    time: the project's table materialization writes the "<schema>__next" twin, and `ref`
    (ref.sql) points there. Nothing decided at parse time depends on the command, so partial
    parsing cannot carry one command's schemas into another. `dbt build` publishes the
    twins at the end, in one Postgres transaction, only when every model and test of the
    project passed.
#}

{# The published name of a schema; the postgres target writes "postgres_<schema>", so the two engines can be compared. #}
{% macro lakehouse_schema(name) -%}
    {{ return(('postgres_' if target.type == 'postgres' and name != var('raw_schema') else '') ~ name) }}
{%- endmacro %}

{#
    The warehouse schemas a build writes under "__next" and publishes: the marts, the history
    (macros/history.sql; postgres_history.sql on dbt-postgres) and the raw copy (dbt-duckdb only). Spark publishes nothing
    itself: its tables stay in its own catalog, and `make load TARGET=spark` publishes its
    marts through the lakehouse target (spark_marts.sql).
#}
{% macro lakehouse_published_schemas() %}
    {% if target.type == 'spark' %}
        {{ return([]) }}
    {% endif %}
    {{ return([lakehouse_schema('marts'), lakehouse_schema('history')] + ([var('raw_schema')] if target.type == 'duckdb' else [])) }}
{% endmacro %}

{# Whether this command writes models, and so writes (and reads) the unpublished twins. #}
{% macro lakehouse_writing() %}
    {{ return(execute and flags.WHICH in ['build', 'run']) }}
{% endmacro %}

{# The "__next" twin of a schema name, or of a Relation in a published schema (any other Relation is its own). #}
{% macro lakehouse_building(relation) %}
    {% if relation is string %}
        {{ return(relation ~ '__next') }}
    {% endif %}
    {% if relation.schema in lakehouse_published_schemas() %}
        {{ return(relation.incorporate(path={'schema': lakehouse_building(relation.schema)})) }}
    {% endif %}
    {{ return(relation) }}
{% endmacro %}

{#
    On-run-start of build and run: empty the twins. What a killed build left there is
    never published, and a table gone from the source must not be published again.
    Through the adapter, so dbt's relation cache knows. Each twin is claimed for this run
    (lakehouse_claim): publish_schemas swaps in only twins that still carry its claim.
#}
{% macro reset_building_schemas() %}
    {% if lakehouse_writing() %}
        {% do lakehouse_check_readers() %}
        {% set claims = [] %}
        {% for name in lakehouse_published_schemas() %}
            {% set relation = api.Relation.create(database=lakehouse_database(), schema=lakehouse_building(name)) %}
            {% do adapter.drop_schema(relation) %}
            {% do adapter.create_schema(relation) %}
            {% do claims.append('comment on schema ' ~ lake_quote(lakehouse_building(name)) ~ ' is '
                ~ lake_sql_string(lakehouse_claim())) %}
        {% endfor %}
        {% do run_query(lakehouse_warehouse_sql(claims)) if claims %}
        {#
            The schemas of the tests' failing rows, made here in Postgres before the raw copy
            refreshes DuckDB's view of the warehouse: made later by dbt, through one of
            DuckDB's connections, a test on another thread may not find it yet.
        #}
        {% if target.type == 'duckdb' %}
            {% set statements = [] %}
            {% for schema in graph.nodes.values() | selectattr('resource_type', 'equalto', 'test')
                | map(attribute='schema') | unique %}
                {% do statements.append('create schema if not exists ' ~ lake_quote(schema)) %}
            {% endfor %}
            {% do run_query(lake_postgres_call(statements | join('; '))) if statements %}
        {% endif %}
    {% endif %}
{% endmacro %}

{#
    The note a run leaves on the twins it builds. The writer lock (extract/writer_lock.py)
    keeps a second run out; the claim proves it at publish time, whoever ignored the lock.
#}
{% macro lakehouse_claim() %}
    {{ return('building ' ~ invocation_id) }}
{% endmacro %}

{# The database of the warehouse: the attached Postgres on dbt-duckdb, the target's own on dbt-postgres. #}
{% macro lakehouse_database() %}
    {{ return('warehouse' if target.type == 'duckdb' else target.database) }}
{% endmacro %}

{#
    What keeps this run from publishing, or none: only a whole, audited `dbt build`
    publishes (every model and every test of the project, on real rows).
#}
{% macro lakehouse_unpublishable(results) %}
    {% if flags.WHICH != 'build' %}
        {{ return('dbt ' ~ flags.WHICH ~ ' runs no tests; dbt build publishes') }}
    {% endif %}
    {% if flags.EMPTY %}
        {{ return('--empty builds no rows') }}
    {% endif %}
    {% set passed = results | selectattr('status', 'in', ['success', 'pass', 'warn']) | map(attribute='node.unique_id') | list %}
    {% set missing = {'model': 0, 'test': 0} %}
    {% for node in graph.nodes.values() if node.resource_type == 'test'
        or (node.resource_type == 'model' and node.config.materialized != 'ephemeral') %}
        {% if node.unique_id not in passed %}
            {% do missing.update({node.resource_type: missing[node.resource_type] + 1}) %}
        {% endif %}
    {% endfor %}
    {% if missing['model'] or missing['test'] %}
        {{ return(missing['model'] ~ ' models and ' ~ missing['test'] ~ ' tests did not run or did not pass') }}
    {% endif %}
    {{ return(none) }}
{% endmacro %}

{#
    On-run-end: swap the twins this run claimed in, in one transaction, with the run date in
    their comments, only while this run still holds the writer lock (lakehouse_fence), and
    keeping what users built on and in the published schemas (lakehouse_swap).
#}
{% macro publish_schemas(results) %}
    {% if not lakehouse_writing() %}
        {{ return('') }}
    {% endif %}
    {% if target.type == 'spark' %}
        {{ log('step 2 on Spark: built and tested in Spark\'s catalog; make load TARGET=spark publishes its marts', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set reason = lakehouse_unpublishable(results) %}
    {% if reason %}
        {{ log('step 2: warehouse NOT published (' ~ reason ~ '); it keeps its previous contents', info=true) }}
        {{ return('') }}
    {% endif %}
    {% set statements = ['begin', lakehouse_fence()] %}
    {% for published in lakehouse_published_schemas() %}
        {% set building = lakehouse_building(published) %}
        {% set claimed = "(select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = "
            ~ lake_sql_string(building) ~ ")" %}
        {% do statements.append('do $claim$ begin if ' ~ claimed ~ ' is distinct from ' ~ lake_sql_string(lakehouse_claim())
            ~ ' then raise exception ' ~ lake_sql_string(building ~ ' was rebuilt by another run: nothing published') ~ '; end if; end $claim$') %}
        {# Readers and the export can tell which day a published schema holds. #}
        {% do statements.append('comment on schema ' ~ lake_quote(building) ~ ' is '
            ~ lake_sql_string('run_date ' ~ lake_run_date())) %}
    {% endfor %}
    {% do statements.extend(lakehouse_grants()) %}
    {#
        The warehouse's own record of what it published, in the same transaction: a CLI
        killed between this commit and its ledger's "success" is still known to have published.
    #}
    {% set run = lake_setting('run_id', 'LAKEHOUSE_RUN_ID', none) %}  {# the ledger's run, from the CLI #}
    {% do statements.append('create schema if not exists lakehouse') %}
    {% do statements.append('create table if not exists lakehouse.publications (run_date date not null, '
        ~ 'schemas text not null, dbt_invocation text not null, ledger_run text, published_at timestamptz not null default now())') %}
    {% do statements.append('alter table lakehouse.publications add column if not exists not_kept text[]') %}
    {% do statements.append('create table if not exists lakehouse.published_relations (schema_name text not null, relation text not null)') %}
    {% do statements.append('insert into lakehouse.publications (run_date, schemas, dbt_invocation, ledger_run) values ('
        ~ lake_sql_string(lake_run_date()) ~ ', ' ~ lake_sql_string(lakehouse_published_schemas() | join(', ')) ~ ', '
        ~ lake_sql_string(invocation_id) ~ ', ' ~ (lake_sql_string(run) if run else 'null') ~ ')') %}
    {% do statements.append(lakehouse_swap(lakehouse_published_schemas())) %}
    {% do statements.append('commit') %}
    {{ log('step 2: publishing schemas ' ~ lakehouse_published_schemas() | join(', '), info=true) }}
    {{ return(lakehouse_warehouse_sql(statements)) }}
{% endmacro %}

{# On-run-end, after the publish: name in dbt's log what it could not keep of users' objects. #}
{% macro report_publication(results) %}
    {% if lakehouse_writing() and target.type != 'spark' and not lakehouse_unpublishable(results) %}
        {% set query = 'select unnest(not_kept) from lakehouse.publications where dbt_invocation = ' ~ lake_sql_string(invocation_id) %}
        {% for row in run_query('select * from ' ~ lakehouse_warehouse_query(query)).rows %}
            {{ log('step 2: not kept: ' ~ row[0], info=true) }}
        {% endfor %}
    {% endif %}
    {{ return('') }}
{% endmacro %}

{#
    The publish goes on only while this run holds the writer lock without a break
    (extract/writer_lock.py): the lock's row still names this dbt invocation (no acquisition
    since), and the session that took it still holds the advisory lock. The row stays locked
    until the publish ends, so no new holder's token can be taken in between; otherwise the
    transaction rolls back.
#}
{% macro lakehouse_fence() %}
    {# The advisory lock's keys are writer_lock.KEYS. #}
    {% set sql %}
do $fence$
declare
    fence record;
    holder text;
    -- Apart from the messages, so that dbt's echo of this code is never taken for the refusal.
    lost constant text := 'was lost';
begin
    if to_regclass('lakehouse.writer_lock') is null then
        raise exception 'the warehouse writer lock %: this build never held it; nothing published', lost;
    end if;
    select * into fence from lakehouse.writer_lock where id = 1 for update;
    if fence.invocation is distinct from {{ lake_sql_string(invocation_id) }} then
        raise exception 'the warehouse writer lock %: taken since by %; nothing published', lost, fence.holder;
    end if;
    if not exists (
        select from pg_locks where locktype = 'advisory' and granted and objsubid = 2
            and classid = 1818323813 and objid = 2003986804 and pid = fence.pid
            and database = (select oid from pg_database where datname = current_database())
    ) then
        select coalesce(min(a.application_name || ' (server pid ' || a.pid || ')'), 'nobody') into holder
        from pg_locks as l inner join pg_stat_activity as a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 2 and l.classid = 1818323813 and l.objid = 2003986804;
        raise exception 'the warehouse writer lock %: its session (server pid %) ended; now held by %; nothing published',
            lost, fence.pid, holder;
    end if;
end $fence$
    {% endset %}
    {{ return(sql) }}
{% endmacro %}

{#
    The grants the project declares (dbt's `grants` config, see dbt_project.yml), on the
    twins before they are published: each model's on its table, and their union on every
    other table of the published schemas (raw, history), with usage on the schemas.
#}
{% macro lakehouse_grants() %}
    {% set statements = [] %}
    {% set readers = {} %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.schema in lakehouse_published_schemas() %}
        {% for privilege, grantees in (node.config.grants or {}).items() %}
            {% set roles = lakehouse_roles(grantees) %}
            {% if roles %}
                {% do statements.append('grant ' ~ privilege ~ ' on ' ~ lake_quote(lakehouse_building(node.schema)) ~ '.'
                    ~ lake_quote(node.alias) ~ ' to ' ~ roles | join(', ')) %}
                {% for role in roles %}
                    {% do readers.update({role: privilege}) if privilege == 'select' %}
                {% endfor %}
            {% endif %}
        {% endfor %}
    {% endfor %}
    {% for published in lakehouse_published_schemas() if readers %}
        {% set roles = readers.keys() | join(', ') %}
        {% do statements.append('grant usage on schema ' ~ lake_quote(lakehouse_building(published)) ~ ' to ' ~ roles) %}
        {% do statements.append('grant select on all tables in schema ' ~ lake_quote(lakehouse_building(published)) ~ ' to ' ~ roles) %}
    {% endfor %}
    {{ return(statements) }}
{% endmacro %}

{# Before anything is built: a role the grants name that the warehouse does not have refuses the run in one line. #}
{% macro lakehouse_check_readers() %}
    {% set named = [] %}
    {% for node in graph.nodes.values() if node.resource_type == 'model' and node.schema in lakehouse_published_schemas() %}
        {% for grantees in (node.config.grants or {}).values() %}
            {% do named.extend(lakehouse_roles(grantees)) %}
        {% endfor %}
    {% endfor %}
    {% if named %}
        {% set known = ['public'] %}
        {% for role in run_query('select * from ' ~ lakehouse_warehouse_query('select rolname from pg_roles')).columns[0].values() %}
            {% do known.append(lake_quote(role)) %}
        {% endfor %}
        {% set unknown = [] %}
        {% for role in named | unique if role not in known %}
            {% do unknown.append(role) %}
        {% endfor %}
        {% if unknown %}
            {{ exceptions.raise_compiler_error('step 2 (load) refused for ' ~ lake_run_date() ~ ': WAREHOUSE_READERS names '
                ~ unknown | join(', ') ~ ', which the warehouse has no role for: create it, or leave it out') }}
        {% endif %}
    {% endif %}
{% endmacro %}

{# The roles of a grants entry, quoted: a list, each item perhaps a comma-separated list (WAREHOUSE_READERS), empty ones left out. #}
{% macro lakehouse_roles(grantees) %}
    {% set roles = [] %}
    {% for item in ([grantees] if grantees is string else grantees) %}
        {% for name in item.split(',') if name.strip() %}
            {% set role = 'public' if name.strip() | lower == 'public' else lake_quote(name.strip()) %}
            {% do roles.append(role) if role not in roles %}
        {% endfor %}
    {% endfor %}
    {{ return(roles) }}
{% endmacro %}

{#
    Drop the published schemas and rename their twins in, keeping what users built: views and
    materialized views on them, in any schema (made again from their definitions, with their
    options, owner, privileges and comment; a materialized view refreshed, its indexes made
    again); inside them, their views likewise, their tables, sequences and functions moved into
    the twin, their indexes on our tables made again; the privileges granted on our schemas and
    relations, and the schemas' default privileges, on the twins' (and applied to what the build
    made, as if they had been there). A table of ours the build no longer makes
    (lakehouse.published_relations) goes, and is named. What cannot be kept (a view whose
    columns are gone, an owner this role cannot act for) is named in lakehouse.publications'
    not_kept; the publish goes on. One PL/pgSQL block, inside the publish's transaction.
#}
{% macro lakehouse_swap(schemas) %}
    {% set published = [] %}
    {% set building = [] %}
    {% for name in schemas %}
        {% do published.append(lake_sql_string(name)) %}
        {% do building.append(lake_sql_string(lakehouse_building(name))) %}
    {% endfor %}
    {% set sql %}
do $swap$
declare
    item record;
    ddl text;
    missing text[] := '{}';
    kind_name constant jsonb := '{"r": "table", "p": "table", "f": "foreign table", "S": "sequence", "v": "view", "m": "materialized view"}';
begin
    -- Every name qualified in the definitions read back: the twins become the published schemas.
    perform set_config('search_path', 'pg_catalog', true);
    create or replace function pg_temp.lakehouse_role(role oid) returns text language sql
        as $role$ select case when role = 0 then 'public' else role::regrole::text end $role$;
    create temporary table lakehouse_pairs on commit drop as
    select p.oid as p_oid, p.nspname as p_name, b.oid as b_oid, b.nspname as b_name, p.nspowner as p_owner
    from unnest(array[{{ published | join(', ') }}]::text[], array[{{ building | join(', ') }}]::text[]) as x (p, b)
    inner join pg_namespace as p on p.nspname = x.p inner join pg_namespace as b on b.nspname = x.b;
    -- What the build made, which the next publish tells apart from what users add.
    create temporary table lakehouse_built on commit drop as
    select x.p as schema_name, c.relname as relation
    from unnest(array[{{ published | join(', ') }}]::text[], array[{{ building | join(', ') }}]::text[]) as x (p, b)
    inner join pg_namespace as b on b.nspname = x.b inner join pg_class as c on c.relnamespace = b.oid
    where c.relkind in ('r', 'p', 'f', 'S');

    -- Users' views on or in the published schemas, and the views on those, deepest last.
    create temporary table lakehouse_views on commit drop as
    with recursive reads as (
        select distinct r.ev_class as view, d.refobjid as relation
        from pg_rewrite as r inner join pg_depend as d
            on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
        where d.refobjid <> r.ev_class
    ), kept (oid, depth) as (
        select c.oid, 0 from pg_class as c inner join lakehouse_pairs as p on c.relnamespace = p.p_oid
        where c.relkind in ('v', 'm')
            and not exists (select from pg_class as b where b.relnamespace = p.b_oid and b.relname = c.relname)
        union
        select r.view, 1 from reads as r
        inner join pg_class as c on c.oid = r.relation inner join lakehouse_pairs as p on c.relnamespace = p.p_oid
        inner join pg_class as v on v.oid = r.view
        where v.relnamespace not in (select p_oid from lakehouse_pairs union all select b_oid from lakehouse_pairs)
        union
        select r.view, k.depth + 1 from kept as k inner join reads as r on r.relation = k.oid
    )
    select c.oid, n.nspname as schema_name, c.relname, c.relkind, d.depth, c.reloptions, c.relacl, c.relowner,
        regexp_replace(pg_get_viewdef(c.oid), ';\s*$', '') as definition, obj_description(c.oid, 'pg_class') as remark,
        array(select pg_get_indexdef(i.indexrelid) from pg_index as i where i.indrelid = c.oid) as indexes
    from (select oid, max(depth) as depth from kept group by oid) as d
    inner join pg_class as c on c.oid = d.oid inner join pg_namespace as n on n.oid = c.relnamespace;

    -- Users' indexes on our tables (not those of a constraint, which the build makes).
    create temporary table lakehouse_indexes on commit drop as
    select p.p_name || '.' || i.relname as name, pg_get_indexdef(x.indexrelid) as definition
    from pg_index as x inner join pg_class as i on i.oid = x.indexrelid inner join pg_class as t on t.oid = x.indrelid
    inner join lakehouse_pairs as p on t.relnamespace = p.p_oid
    where exists (select from pg_class as b where b.relnamespace = p.b_oid and b.relname = t.relname)
        and not exists (select from pg_class as b where b.relnamespace = p.b_oid and b.relname = i.relname)
        and not exists (select from pg_constraint as k where k.conindid = x.indexrelid);

    -- The privileges on our schemas and relations, on their twins.
    for item in
        select format('grant %s on schema %I to %s%s', a.privilege_type, p.b_name, pg_temp.lakehouse_role(a.grantee),
            case when a.is_grantable then ' with grant option' else '' end) as ddl
        from lakehouse_pairs as p inner join pg_namespace as n on n.oid = p.p_oid, aclexplode(n.nspacl) as a
        where a.grantee <> n.nspowner
        union all
        select format('grant %s on %s %I.%I to %s%s', a.privilege_type, case c.relkind when 'S' then 'sequence' else 'table' end,
            p.b_name, c.relname, pg_temp.lakehouse_role(a.grantee), case when a.is_grantable then ' with grant option' else '' end)
        from lakehouse_pairs as p inner join pg_class as c on c.relnamespace = p.p_oid
        inner join pg_class as b on b.relnamespace = p.b_oid and b.relname = c.relname, aclexplode(c.relacl) as a
        where a.grantee <> c.relowner
        union all
        select format('grant %s (%I) on table %I.%I to %s%s', a.privilege_type, t.attname, p.b_name, c.relname,
            pg_temp.lakehouse_role(a.grantee), case when a.is_grantable then ' with grant option' else '' end)
        from lakehouse_pairs as p inner join pg_class as c on c.relnamespace = p.p_oid
        inner join pg_class as b on b.relnamespace = p.b_oid and b.relname = c.relname
        inner join pg_attribute as t on t.attrelid = c.oid and t.attacl is not null, aclexplode(t.attacl) as a
        where exists (select from pg_attribute as bt where bt.attrelid = b.oid and bt.attname = t.attname and not bt.attisdropped)
    loop
        execute item.ddl;
    end loop;

    -- The schemas' default privileges, on the twins, and on what the build made there as their role.
    for item in
        select p.b_name, p.b_oid, d.defaclrole, d.defaclobjtype, a.privilege_type, a.grantee, a.is_grantable
        from lakehouse_pairs as p inner join pg_default_acl as d on d.defaclnamespace = p.p_oid, aclexplode(d.defaclacl) as a
    loop
        begin
            execute format('alter default privileges for role %s in schema %I grant %s on %s to %s%s',
                pg_temp.lakehouse_role(item.defaclrole), item.b_name, item.privilege_type,
                case item.defaclobjtype when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions' else 'types' end,
                pg_temp.lakehouse_role(item.grantee), case when item.is_grantable then ' with grant option' else '' end);
            for ddl in
                select format('grant %s on %s %I.%I to %s', item.privilege_type, case c.relkind when 'S' then 'sequence' else 'table' end,
                    item.b_name, c.relname, pg_temp.lakehouse_role(item.grantee))
                from pg_class as c
                where c.relnamespace = item.b_oid and c.relowner = item.defaclrole
                    and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and (c.relkind = 'S') = (item.defaclobjtype = 'S')
                    and item.defaclobjtype in ('r', 'S')
            loop
                execute ddl;
            end loop;
        exception when others then
            missing := missing || format('default privileges of %s in schema %s: %s',
                pg_temp.lakehouse_role(item.defaclrole), item.b_name, sqlerrm);
        end;
    end loop;

    -- Users' tables (partitions too), sequences and functions inside our schemas move into the
    -- twins; ours the build no longer makes go. A table not known to be ours (a warehouse published
    -- before lakehouse.published_relations) is kept.
    for item in
        select p.p_name, p.b_name, c.relname, c.relkind,
            exists (select from lakehouse.published_relations as o where o.schema_name = p.p_name and o.relation = c.relname) as ours
        from lakehouse_pairs as p inner join pg_class as c on c.relnamespace = p.p_oid
        where c.relkind in ('r', 'p', 'f', 'S')
            and not exists (select from pg_class as b where b.relnamespace = p.b_oid and b.relname = c.relname)
            and not exists (select from pg_depend as d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                and d.refobjid <> c.oid and d.deptype in ('a', 'i'))
    loop
        if item.ours then
            missing := missing || format('%I.%I (%s): no longer built, dropped', item.p_name, item.relname, kind_name->>(item.relkind::text));
        else
            begin
                execute format('alter %s %I.%I set schema %I', kind_name->>(item.relkind::text), item.p_name, item.relname, item.b_name);
            exception when others then
                missing := missing || format('%I.%I (%s): dropped, %s', item.p_name, item.relname, kind_name->>(item.relkind::text), sqlerrm);
            end;
        end if;
    end loop;
    -- Row-level security and users' triggers on our tables, made again on the twins' after the swap.
    create temporary table lakehouse_table_rules on commit drop as
    select format('%I.%I', p.p_name, c.relname) as name,
        array_remove(array[
            case when c.relrowsecurity then format('alter table %I.%I enable row level security', p.p_name, c.relname) end,
            case when c.relforcerowsecurity then format('alter table %I.%I force row level security', p.p_name, c.relname) end
        ], null)
        || array(select format('create policy %I on %I.%I as %s for %s to %s%s%s', o.policyname, p.p_name, c.relname, o.permissive,
                o.cmd, array_to_string(array(select case when r = 'public' then 'public' else quote_ident(r) end from unnest(o.roles) as r), ', '),
                coalesce(' using (' || o.qual || ')', ''), coalesce(' with check (' || o.with_check || ')', ''))
            from pg_policies as o where o.schemaname = p.p_name and o.tablename = c.relname)
        || array(select pg_get_triggerdef(t.oid) from pg_trigger as t where t.tgrelid = c.oid and not t.tgisinternal) as ddl
    from lakehouse_pairs as p inner join pg_class as c on c.relnamespace = p.p_oid
    where exists (select from pg_class as b where b.relnamespace = p.b_oid and b.relname = c.relname)
        and (c.relrowsecurity or exists (select from pg_trigger as t where t.tgrelid = c.oid and not t.tgisinternal));
    for item in
        select p.b_name, f.oid::regprocedure::text as routine
        from lakehouse_pairs as p inner join pg_proc as f on f.pronamespace = p.p_oid
    loop
        begin
            execute format('alter routine %s set schema %I', item.routine, item.b_name);
        exception when others then
            missing := missing || format('%s (function): %s', item.routine, sqlerrm);
        end;
    end loop;

    -- The swap.
    for item in select * from lakehouse_pairs loop
        execute format('drop schema %I cascade', item.p_name);
    end loop;
    for item in select * from unnest(array[{{ building | join(', ') }}]::text[], array[{{ published | join(', ') }}]::text[]) as x (b, p) loop
        execute format('alter schema %I rename to %I', item.b, item.p);
    end loop;
    delete from lakehouse.published_relations where schema_name = any(array[{{ published | join(', ') }}]::text[]);
    insert into lakehouse.published_relations select * from lakehouse_built;

    for item in select * from lakehouse_table_rules loop
        begin
            foreach ddl in array item.ddl loop
                execute ddl;
            end loop;
        exception when others then
            missing := missing || format('row security or triggers of %s: %s', item.name, sqlerrm);
        end;
    end loop;

    -- Users' views again, each on its own: one that cannot be made is named, the rest go on.
    for item in select * from lakehouse_views order by depth, oid loop
        if to_regclass(format('%I.%I', item.schema_name, item.relname)) is not null then
            continue;  -- it reads only what moved with it: the drop left it be
        end if;
        begin
            execute format('create %s %I.%I%s as %s%s', kind_name->>(item.relkind::text), item.schema_name, item.relname,
                case when item.reloptions is null then '' else ' with (' || array_to_string(item.reloptions, ', ') || ')' end,
                item.definition, case when item.relkind = 'm' then ' with data' else '' end);
            if item.relowner <> (select oid from pg_roles where rolname = current_user) then
                execute format('alter %s %I.%I owner to %s', kind_name->>(item.relkind::text), item.schema_name, item.relname, pg_temp.lakehouse_role(item.relowner));
            end if;
            -- Its privileges exactly as they were: none of what a schema's defaults gave it anew.
            for ddl in
                select format('revoke all on %I.%I from %s', item.schema_name, item.relname, pg_temp.lakehouse_role(a.grantee))
                from pg_class as c, aclexplode(c.relacl) as a
                where c.oid = format('%I.%I', item.schema_name, item.relname)::regclass and a.grantee <> c.relowner
            loop
                execute ddl;
            end loop;
            for ddl in
                select format('grant %s on %I.%I to %s%s', a.privilege_type, item.schema_name, item.relname,
                    pg_temp.lakehouse_role(a.grantee), case when a.is_grantable then ' with grant option' else '' end)
                from aclexplode(item.relacl) as a where a.grantee <> item.relowner
                union all
                select unnest(item.indexes)
                union all
                select format('comment on %s %I.%I is %L', kind_name->>(item.relkind::text), item.schema_name, item.relname, item.remark)
                where item.remark is not null
            loop
                execute ddl;
            end loop;
        exception when others then
            missing := missing || format('%I.%I (%s): %s', item.schema_name, item.relname, kind_name->>(item.relkind::text), sqlerrm);
        end;
    end loop;
    for item in select * from lakehouse_indexes loop
        begin
            execute item.definition;
        exception when others then
            missing := missing || format('index %s: %s', item.name, sqlerrm);
        end;
    end loop;
    update lakehouse.publications set not_kept = missing where dbt_invocation = {{ lake_sql_string(invocation_id) }};
end $swap$
    {% endset %}
    {{ return(sql) }}
{% endmacro %}

{# The SQL that runs `statements` (PostgreSQL's dialect) in the warehouse: through DuckDB's attached database on dbt-duckdb, as they are on dbt-postgres. #}
{% macro lakehouse_warehouse_sql(statements) %}
    {% if target.type == 'duckdb' %}
        {{ return(lake_postgres_call(statements | join('; '))) }}
    {% endif %}
    {{ return(statements | join(';\n')) }}
{% endmacro %}

{# A table expression of the rows of `sql` (PostgreSQL's dialect), run in the warehouse: through DuckDB's attached database on dbt-duckdb. #}
{% macro lakehouse_warehouse_query(sql) %}
    {% if target.type == 'duckdb' %}
        {{ return(lake_postgres_query(sql)) }}
    {% endif %}
    {{ return('(' ~ sql ~ ') as warehouse_query') }}
{% endmacro %}
