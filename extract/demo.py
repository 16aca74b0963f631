"""Deterministic generator of a Northwind-shaped demo source: 13 Postgres tables plus an order_details CSV."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import duckdb

from .sql import literal, quote

__all__ = ["NOTE", "NOTE_QUERY", "csv_of", "generate"]

# Dependency order: every table comes after the tables its foreign keys reference.
_TABLES = tuple(
    "categories customer_demographics customers customer_customer_demo employees region territories "
    "employee_territories shippers suppliers products orders us_states".split()
)
_EMPTY = ("customer_demographics", "customer_customer_demo")  # empty in the real dump too
_FIRST_ORDER_ID, _REAL_ORDERS, _LAST_DAY = 10248, 830, "1998-05-06"

_TABLES_DDL = """\
create table categories (
    category_id smallint not null, category_name varchar(15) not null, description text, picture bytea,
    constraint pk_categories primary key (category_id));
create table customer_demographics (
    customer_type_id bpchar not null, customer_desc text,
    constraint pk_customer_demographics primary key (customer_type_id));
create table customers (
    customer_id bpchar not null, company_name varchar(40) not null, contact_name varchar(30),
    contact_title varchar(30), address varchar(60), city varchar(15), region varchar(15), postal_code varchar(10),
    country varchar(15), phone varchar(24), fax varchar(24),
    constraint pk_customers primary key (customer_id));
create table customer_customer_demo (
    customer_id bpchar not null, customer_type_id bpchar not null,
    constraint pk_customer_customer_demo primary key (customer_id, customer_type_id));
create table employees (
    employee_id smallint not null, last_name varchar(20) not null, first_name varchar(10) not null,
    title varchar(30), title_of_courtesy varchar(25), birth_date date, hire_date date, address varchar(60),
    city varchar(15), region varchar(15), postal_code varchar(10), country varchar(15), home_phone varchar(24),
    extension varchar(4), photo bytea, notes text, reports_to smallint, photo_path varchar(255),
    constraint pk_employees primary key (employee_id));
create table region (
    region_id smallint not null, region_description bpchar not null,
    constraint pk_region primary key (region_id));
create table territories (
    territory_id varchar(20) not null, territory_description bpchar not null, region_id smallint not null,
    constraint pk_territories primary key (territory_id));
create table employee_territories (
    employee_id smallint not null, territory_id varchar(20) not null,
    constraint pk_employee_territories primary key (employee_id, territory_id));
create table shippers (
    shipper_id smallint not null, company_name varchar(40) not null, phone varchar(24),
    constraint pk_shippers primary key (shipper_id));
create table suppliers (
    supplier_id smallint not null, company_name varchar(40) not null, contact_name varchar(30),
    contact_title varchar(30), address varchar(60), city varchar(15), region varchar(15), postal_code varchar(10),
    country varchar(15), phone varchar(24), fax varchar(24), homepage text,
    constraint pk_suppliers primary key (supplier_id));
create table products (
    product_id smallint not null, product_name varchar(40) not null, supplier_id smallint, category_id smallint,
    quantity_per_unit varchar(20), unit_price real, units_in_stock smallint, units_on_order smallint,
    reorder_level smallint, discontinued integer not null,
    constraint pk_products primary key (product_id));
create table orders (
    order_id {order_id_type} not null, customer_id bpchar, employee_id smallint, order_date date,
    required_date date, shipped_date date, ship_via smallint, freight real, ship_name varchar(40),
    ship_address varchar(60), ship_city varchar(15), ship_region varchar(15), ship_postal_code varchar(10),
    ship_country varchar(15),
    constraint pk_orders primary key (order_id));
create table us_states (
    state_id smallint not null, state_name varchar(100), state_abbr varchar(2), state_region varchar(50),
    constraint pk_usstates primary key (state_id));
"""

# Added after the load, as in the real dump: Postgres then checks each key in one pass instead of row by row.
_FOREIGN_KEYS = """\
alter table customer_customer_demo
    add constraint fk_customer_customer_demo_customer_demographics
        foreign key (customer_type_id) references customer_demographics,
    add constraint fk_customer_customer_demo_customers foreign key (customer_id) references customers;
alter table employees add constraint fk_employees_employees foreign key (reports_to) references employees;
alter table territories add constraint fk_territories_region foreign key (region_id) references region;
alter table employee_territories
    add constraint fk_employee_territories_employees foreign key (employee_id) references employees,
    add constraint fk_employee_territories_territories foreign key (territory_id) references territories;
alter table products
    add constraint fk_products_categories foreign key (category_id) references categories,
    add constraint fk_products_suppliers foreign key (supplier_id) references suppliers;
alter table orders
    add constraint fk_orders_customers foreign key (customer_id) references customers,
    add constraint fk_orders_employees foreign key (employee_id) references employees,
    add constraint fk_orders_shippers foreign key (ship_via) references shippers;
"""


def _rows(text: str) -> list[tuple[str | None, ...]]:
    """Split ``a|b|c; d||f`` (rows separated by ``;`` or newlines) into tuples, empty fields as None."""
    return [tuple(v.strip() or None for v in r.split("|")) for r in re.split(r"[;\n]", text) if r.strip()]


def _lists(text: str) -> dict[str, list]:
    """Parse ``name: a, b, c`` lines into named word lists; repeated names continue their list."""
    lists: dict[str, list] = {}
    for line in text.splitlines():
        name, words = line.split(":", 1)
        lists.setdefault(name, []).extend(w.strip() for w in words.split(","))
    return lists


_CATEGORIES = _rows("""\
Beverages|Soft drinks, coffees, teas, beers, and ales
Condiments|Sweet and savory sauces, relishes, spreads, and seasonings
Confections|Desserts, candies, and sweet breads; Dairy Products|Cheeses
Grains/Cereals|Breads, crackers, pasta, and cereal; Meat/Poultry|Prepared meats
Produce|Dried fruit and bean curd; Seafood|Seaweed and fish""")
_EMPLOYEES = _rows("""\
Avery|Nora|Sales Representative|Ms.|1958-03-11|1992-04-01|Seattle|WA|USA|2
Hollis|Gregory|Vice President, Sales|Dr.|1952-09-02|1992-08-14|Tacoma|WA|USA|
Lindqvist|Paula|Sales Representative|Ms.|1963-05-27|1992-04-01|Kirkland|WA|USA|2
Okafor|Marian|Sales Representative|Mrs.|1947-11-19|1993-05-03|Redmond|WA|USA|2
Brennan|Thomas|Sales Manager|Mr.|1955-06-30|1993-10-17|London||UK|2
Sato|Kenji|Sales Representative|Mr.|1963-01-08|1993-10-17|London||UK|5
Whitford|Oliver|Sales Representative|Mr.|1960-02-14|1994-01-02|London||UK|5
Castellano|Irene|Inside Sales Coordinator|Ms.|1958-12-03|1994-03-05|Seattle|WA|USA|2
Dunmore|Alice|Sales Representative|Ms.|1966-07-21|1994-11-15|London||UK|5""")
_CITIES = _rows("""\
Berlin||Germany; München||Germany; Aachen||Germany; London||UK; Cowes|Isle of Wight|UK; Paris||France; Lyon||France
Madrid||Spain; Barcelona||Spain; Torino||Italy; Graz||Austria; Bern||Switzerland; Bruxelles||Belgium
Lisboa||Portugal; Helsinki||Finland; Stavern||Norway; Luleå||Sweden; Århus||Denmark; Warszawa||Poland
Cork|Co. Cork|Ireland; México D.F.||Mexico; Buenos Aires||Argentina; São Paulo|SP|Brazil; Rio de Janeiro|RJ|Brazil
Caracas|DF|Venezuela; Montréal|Québec|Canada; Vancouver|BC|Canada; Seattle|WA|USA; Portland|OR|USA; Boise|ID|USA
Albuquerque|NM|USA; Anchorage|AK|USA""")
_STATES = _rows("""\
Alabama|AL|south; Alaska|AK|north; Arizona|AZ|west; Arkansas|AR|south; California|CA|west; Colorado|CO|west
Connecticut|CT|east; Delaware|DE|east; District of Columbia|DC|east; Florida|FL|south; Georgia|GA|south
Hawaii|HI|west; Idaho|ID|midwest; Illinois|IL|midwest; Indiana|IN|midwest; Iowa|IA|midwest; Kansas|KS|midwest
Kentucky|KY|south; Louisiana|LA|south; Maine|ME|north; Maryland|MD|east; Massachusetts|MA|north
Michigan|MI|north; Minnesota|MN|north; Mississippi|MS|south; Missouri|MO|south; Montana|MT|west
Nebraska|NE|midwest; Nevada|NV|west; New Hampshire|NH|east; New Jersey|NJ|east; New Mexico|NM|west
New York|NY|east; North Carolina|NC|east; North Dakota|ND|midwest; Ohio|OH|midwest; Oklahoma|OK|midwest
Oregon|OR|west; Pennsylvania|PA|east; Rhode Island|RI|east; South Carolina|SC|east; South Dakota|SD|midwest
Tennessee|TN|midwest; Texas|TX|west; Utah|UT|west; Vermont|VT|east; Virginia|VA|east; Washington|WA|west
West Virginia|WV|south; Wisconsin|WI|midwest; Wyoming|WY|west""")
_SHIPPERS = _rows("Swift Couriers; United Freight; Federal Cargo; Alliance Shippers; Polar Post; Global Express")
_REGIONS = _rows("Eastern; Western; Northern; Southern")
_NOUNS = [
    list(r)
    for r in _rows("""\
Tea|Lager|Coffee; Syrup|Mustard|Hot Sauce; Chocolate|Biscuits|Marmalade; Cheese|Mozzarella|Gouda
Crispbread|Gnocchi|Ravioli; Pâté|Sausages|Tourtière; Dried Pears|Tofu|Dried Apples; Crab Meat|Herring|Caviar""")
]
# 13 heads x 7 tails = 91 customers; unique 3- and 2-letter prefixes make unique 5-letter customer ids.
# The 53 territories run east to west: 19 Eastern, 10 Southern, 8 Northern, 16 Western.
_WORDS = _lists("""\
first: Maria, Ana, Thomas, Hanna, Elizabeth, Victoria, Francisco, Yang, Pedro, Aria, Diego, Martine, Paolo
first: Carlos, Yvonne, Rene, Jytte, Pirkko, Liu, Karin, Howard, Sergio, Helena
last: Anders, Berglund, Moos, Lincoln, Ashworth, Chang, Afonso, Cruz, Simpson, Roel, Rancé, Fonseca, Wilson
last: Koskitalo, Larsson, Schmitt, Pontes, Karttunen, Petersen, Accorti, Hernández, Müller, Novak, Dubois
title: Sales Representative, Owner, Marketing Manager, Accounting Manager, Sales Manager, Order Administrator
title: Sales Associate, Marketing Assistant, Sales Agent, Purchasing Manager
street: Obere Str., Rue des Bouchers, Calle del Rosal, Via Monte Bianco, Berkeley Gardens, Kirchgasse
street: Avda. Brasil, Crowther Way, Strada Provinciale, Grenzacherweg, Walserweg
head: Alpen, Bergmann, Blauer, Bottega, Casa, Drachen, Emporio, Folk, Galeria, Hungry, Island, Lazy, Maison
tail: Delikatessen, Supermarkt, Grocery, Markets, Comidas, Imports, Handel
sup_head: Exotic, Cajun, Tokyo, Pavlova, Specialty, Nordic, Bigfoot, Svensk, Joyeux, Formaggi
sup_tail: Liquids, Traders, Foods
adjective: Alpine, Northwoods, Outback, Grandma's, Chef Marco's, Louisiana, Sir Rodney's, Gustaf's, Nordic, Tuscan
pack: 24 - 12 oz bottles, 12 - 550 ml bottles, 10 boxes x 12 pieces, 12 - 100 g pkgs, 24 - 500 g pkgs
pack: 20 - 1 kg tins, 50 - 300 g pkgs, 24 - 250 g jars
territory: Westboro, Bedford, Georgetown, Boston, Cambridge, Braintree, Providence, Hartford, Portsmouth, Wilton
territory: Morristown, Edison, New York, Melville, Fairport, Philadelphia, Newark, Rockville, Baltimore, Greensboro
territory: Cary, Columbia, Atlanta, Savannah, Orlando, Tampa, Louisville, Nashville, Memphis, Cleveland, Findlay
territory: Southfield, Troy, Racine, Roseville, Minneapolis, Chicago, Bentonville, Dallas, Austin, Houston, Denver
territory: Colorado Springs, Phoenix, Scottsdale, Santa Monica, Menlo Park, San Francisco, Foster City, Redmond
territory: Seattle, Bellevue, Portland""")
_WORDS |= {"noun": _NOUNS, "city": [{"city": c, "region": r, "country": n} for c, r, n in _CITIES]}
_VALUE_TABLES = dict(categories=_CATEGORIES, employees=_EMPLOYEES, regions=_REGIONS, shippers=_SHIPPERS, states=_STATES)

_MACROS = r"""
create or replace temp macro demo_h(i, s) as (hash(i, s) >> 1)::bigint;
create or replace temp macro demo_u(i, s) as (demo_h(i, s) % 1000000) / 1000000.0;
create or replace temp macro demo_phone(i, s) as
    '(' || (100 + demo_h(i, s) % 900)::varchar || ') 555-' || lpad((demo_h(i, s || '#') % 10000)::varchar, 4, '0');
create or replace temp macro demo_postal(i, s) as lpad((demo_h(i, s || '.zip') % 100000)::varchar, 5, '0');
create or replace temp macro demo_address(i, s) as
    (1 + demo_h(i, s || '.no') % 250)::varchar || ' ' || demo_street(demo_h(i, s || '.street'));
create or replace temp macro demo_png(i) as '\x89PNG\x0D\x0A\x1A\x0A\x00\x00\x00\x0DIHDR'::blob || i::varchar::blob;
create or replace temp macro demo_num(x) as rtrim(rtrim(round(x, 2)::decimal(18, 2)::varchar, '0'), '.');
"""

# Every demo_<table> has the target's columns (matched by name) plus the row number k.
_SMALL_TABLES = """
create or replace temp table demo_categories as
select k, k + 1 as category_id, category_name, description, demo_png(k) as picture
from {categories} v(k, category_name, description);
create or replace temp table demo_customers as
select k, upper(left(demo_head(k), 3) || left(demo_tail(k // 13), 2)) as customer_id,
    demo_head(k) || ' ' || demo_tail(k // 13) as company_name,
    demo_first(demo_h(k, 'c.first')) || ' ' || demo_last(demo_h(k, 'c.last')) as contact_name,
    demo_title(demo_h(k, 'c.title')) as contact_title, demo_address(k, 'c') as address,
    demo_city(demo_h(k, 'c.city')).city as city, demo_city(demo_h(k, 'c.city')).region as region,
    demo_postal(k, 'c') as postal_code, demo_city(demo_h(k, 'c.city')).country as country,
    demo_phone(k, 'c.phone') as phone, case when demo_h(k, 'c.fax') % 3 > 0 then demo_phone(k, 'c.fax') end as fax
from range(91) r(k);
create or replace temp table demo_employees as
select k, k + 1 as employee_id, last_name, first_name, title, title_of_courtesy, birth_date::date as birth_date,
    hire_date::date as hire_date, demo_address(k, 'e') as address, city, region, demo_postal(k, 'e') as postal_code,
    country, demo_phone(k, 'e.phone') as home_phone, lpad((demo_h(k, 'e.ext') % 10000)::varchar, 4, '0') as extension,
    demo_png(k) as photo, first_name || ' joined the company in ' || left(v.hire_date, 4) || ' as '
        || lower(title) || '.' as notes, reports_to::smallint as reports_to,
    'http://accweb/employees/' || lower(last_name) || '.bmp' as photo_path
from {employees} v(k, last_name, first_name, title, title_of_courtesy, birth_date, hire_date, city, region,
    country, reports_to);
create or replace temp table demo_region as
select k, k + 1 as region_id, region_description from {regions} v(k, region_description);
create or replace temp table demo_territories as
select k, lpad((1581 + k * 1873)::varchar, 5, '0') as territory_id, demo_territory(k) as territory_description,
    case when k < 19 then 1 when k < 29 then 4 when k < 37 then 3 else 2 end as region_id
from range(53) r(k);
create or replace temp table demo_employee_territories as
select k, 1 + k * 9 // 49 as employee_id, territory_id from demo_territories where k < 49;
create or replace temp table demo_shippers as
select k, k + 1 as shipper_id, company_name, demo_phone(k, 's.phone') as phone from {shippers} v(k, company_name);
create or replace temp table demo_suppliers as
select k, k + 1 as supplier_id, demo_sup_head(k) || ' ' || demo_sup_tail(k // 10) as company_name,
    demo_first(demo_h(k, 'u.first')) || ' ' || demo_last(demo_h(k, 'u.last')) as contact_name,
    demo_title(demo_h(k, 'u.title')) as contact_title, demo_address(k, 'u') as address,
    demo_city(demo_h(k, 'u.city')).city as city, demo_city(demo_h(k, 'u.city')).region as region,
    demo_postal(k, 'u') as postal_code, demo_city(demo_h(k, 'u.city')).country as country,
    demo_phone(k, 'u.phone') as phone, case when demo_h(k, 'u.fax') % 4 = 0 then demo_phone(k, 'u.fax') end as fax,
    case when demo_h(k, 'u.web') % 4 = 0 then '#' || upper(demo_sup_head(k)) || '.HTM#' end as homepage
from range(29) r(k);
create or replace temp table demo_products as
select k, k + 1 as product_id, demo_adjective(k // 8) || ' ' || demo_noun(k % 8)[1 + k // 8 % 3] as product_name,
    1 + k * 11 % 29 as supplier_id, 1 + k % 8 as category_id, demo_pack(k % 8) as quantity_per_unit,
    ((case when demo_h(k, 'p.lux') % 20 = 0 then 4 else 1 end) * (4 + demo_h(k, 'p.price') % 50)
        + [0, 0, 0, 0.5, 0.25, 0.35, 0.45, 0.95][1 + demo_h(k, 'p.cents') % 8])::decimal(10, 2) as unit_price,
    demo_h(k, 'p.stock') % 126 as units_in_stock,
    [0, 0, 0, 0, 10, 20, 40, 70, 100][1 + demo_h(k, 'p.order') % 9] as units_on_order,
    5 * (demo_h(k, 'p.reorder') % 7) as reorder_level, (demo_h(k, 'p.discontinued') % 10 = 0)::int as discontinued
from range(77) r(k);
create or replace temp table demo_us_states as
select k, k + 1 as state_id, state_name, state_abbr, state_region
from {states} v(k, state_name, state_abbr, state_region);
"""

# Orders spread evenly over the real date range in order_id order; an order whose shipping date
# would fall after the last order day is still open (shipped_date null, about 2.3% of orders).
_ORDERS = """
create or replace temp table demo_orders as
with o as (
    select k, date '1996-07-04' + (k * 671 // greatest({n} - 1, 1))::int as order_date,
        (1 + demo_h(k, 'o.shipped') % 30)::int as ship_days
    from range({n}) r(k))
select o.k, {first_id} + o.k as order_id, c.customer_id, 1 + demo_h(o.k, 'o.employee') % 9 as employee_id,
    order_date, order_date + [28, 28, 28, 28, 14, 42][1 + demo_h(o.k, 'o.required') % 6]::int as required_date,
    case when order_date + ship_days <= date '{last_day}' then order_date + ship_days end as shipped_date,
    1 + demo_h(o.k, 'o.via') % 3 as ship_via, round(0.02 + 600 * pow(demo_u(o.k, 'o.freight'), 4), 2) as freight,
    c.company_name as ship_name, c.address as ship_address, c.city as ship_city, c.region as ship_region,
    c.postal_code as ship_postal_code, c.country as ship_country
from o join demo_customers c on c.k = demo_h(o.k, 'o.customer') % 91
order by o.k;
"""

# 1-5 lines per order (17/33/29/16/5%, mean 2.59); products first + n * step (mod 77) are distinct for n < 5.
# Orders of 1996 were billed at 80% of the list price; 61% of the lines have no discount.
_ORDER_DETAILS = """
copy (
    with o as (
        select order_id, order_date, demo_h(order_id, 'l.first') % 77 as first,
            1 + demo_h(order_id, 'l.step') % 76 as step,
            case when h < 17 then 1 when h < 50 then 2 when h < 79 then 3 when h < 95 then 4 else 5 end as n_lines
        from (select order_id, order_date, demo_h(order_id, 'l.n') % 100 as h from demo_orders)),
    l as (
        select o.*, 1 + (first + n * step) % 77 as product_id, demo_h(order_id * 8 + n, 'l.line') as h
        from o join range(5) r(n) on n < o.n_lines)
    select order_id, product_id,
        demo_num(case when order_date < date '1997-01-01' then p.unit_price * 0.8 else p.unit_price end) as unit_price,
        case when h % 100 < 85 then 1 + h // 100 % 35 else 1 + h // 100 % 130 end as quantity,
        demo_num(case when h // 10000 % 100 < 61 then 0
            else [0.05, 0.10, 0.15, 0.20, 0.25][1 + h // 1000000 % 5] end) as discount
    from l join demo_products p using (product_id)
    order by order_id, product_id
) to {path} (format csv, header, delimiter ',');
"""


def _lit(x: object) -> str:
    """Render a Python value as a DuckDB literal (str, int, None, list, tuple as a row, dict as a struct)."""
    if x is None:
        return "null"
    if isinstance(x, str):
        return literal(x)
    if isinstance(x, list):
        return "[" + ", ".join(map(_lit, x)) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(map(_lit, x)) + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in x.items()) + "}"
    return repr(x)


def _values(rows: list[tuple]) -> str:
    """Render rows as a parenthesised VALUES list, each row preceded by its index k."""
    return "(values " + ", ".join(_lit((k, *row)) for k, row in enumerate(rows)) + ")"


def _create_ddl(order_id_type: str) -> str:
    """Drop and create the 13 tables with their primary keys (foreign keys come after the load).

    ``order_id_type`` is ``smallint`` as in the real dump, or ``integer`` when the order ids
    do not fit in a smallint.
    """
    if order_id_type not in ("smallint", "integer", "bigint"):
        raise ValueError(f"order_id_type must be smallint, integer or bigint, not {order_id_type!r}")
    drops = "".join(f"drop table if exists {t} cascade;\n" for t in reversed(_TABLES))
    return drops + _TABLES_DDL.format(order_id_type=order_id_type)


NOTE = "lakehouse demo source; its order lines: "
NOTE_QUERY = "select obj_description(to_regclass('public.orders'), 'pg_class')"


def csv_of(note: str | None) -> Path | None:
    """The demo CSV that a source's note (``NOTE_QUERY``) names, or None for a source the demo did not write."""
    return Path(note.removeprefix(NOTE)) if note and note.startswith(NOTE) else None


def generate(con: duckdb.DuckDBPyConnection, source: str, csv_path: Path, scale: float = 1.0) -> dict[str, int]:
    """Recreate and fill the demo Northwind tables in Postgres, and write the order_details CSV.

    Only the orders and their lines grow with ``scale``: ``round(830 * scale)`` orders (at least
    one) with ids from 10248 and about 2.6 lines each; the other tables keep the sizes of the real
    dump, and customer_demographics and customer_customer_demo stay empty as there. The real
    ``orders.order_id`` is a smallint; when the last id, or one of the orders ``evolve`` adds,
    would exceed 32767 (scale above about 27) the column is created as an integer instead.
    Values derive from DuckDB's ``hash()`` of row numbers, so one scale always gives the same
    tables and a byte-identical CSV (for one DuckDB version). The tables are filled in one
    transaction, then the foreign keys are added, which checks them all; open transactions of
    other sessions on these tables block the drop.

    Args:
        con: DuckDB connection with the postgres extension loaded (see ``extract.duck.connect``).
        source: Alias of the target Postgres database, already attached with ``TYPE postgres``.
        csv_path: Where to write the order_details CSV. Missing folders are created, and the file
            is written under a temporary name first, so a partial CSV never appears.
        scale: Size relative to the real Northwind data (1.0 = 830 orders, ~2155 order lines).

    Returns:
        Rows per table in dependency order, then ``"order_details"`` for the CSV lines.

    Raises:
        ValueError: If ``scale`` is not positive or ``source`` is not a plain identifier.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    if not source.isidentifier():
        raise ValueError(f"source must be a plain identifier, not {source!r}")
    n_orders = max(1, round(_REAL_ORDERS * scale))
    order_id_type = "smallint" if _FIRST_ORDER_ID + n_orders - 1 + _ADDED_ORDERS <= 32767 else "integer"
    con.execute("call postgres_execute(?, ?)", [source, _create_ddl(order_id_type)])
    con.execute("call pg_clear_cache()")  # the catalog cached by DuckDB predates the new tables

    for name, words in _WORDS.items():
        con.execute(f"create or replace temp macro demo_{name}(i) as ({_lit(words)})[1 + i % {len(words)}]")
    con.execute(_MACROS)
    con.execute(_SMALL_TABLES.format(**{name: _values(rows) for name, rows in _VALUE_TABLES.items()}))
    con.execute(_ORDERS.format(n=n_orders, first_id=_FIRST_ORDER_ID, last_day=_LAST_DAY))

    rows = dict.fromkeys(_EMPTY, 0)
    con.execute("begin")
    try:
        for table in (t for t in _TABLES if t not in _EMPTY):
            insert = f"insert into {quote(source)}.public.{table} by name select * exclude (k) from demo_{table}"
            rows[table] = con.execute(insert).fetchone()[0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("call postgres_execute(?, ?)", [source, _FOREIGN_KEYS])  # fails if any key does not hold
    # The source says which CSV holds its order lines (csv_of): extract uses it for this source only.
    con.execute(
        "call postgres_execute(?, ?)",
        [source, f"comment on table orders is {literal(NOTE + str(Path(csv_path).resolve()))}"],
    )

    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_name(f".{csv_path.name}.{os.getpid()}.tmp")
    try:
        sql = _ORDER_DETAILS.format(path=literal(str(tmp)))
        rows["order_details"] = con.execute(sql).fetchone()[0]
        os.replace(tmp, csv_path)
    finally:
        tmp.unlink(missing_ok=True)
        for table in _TABLES:  # free the staged rows (the macros stay: they are tiny)
            con.execute(f"drop table if exists demo_{table}")
    return {t: rows[t] for t in (*_TABLES, "order_details")}


# The demo source's day-to-day changes (``evolve``): each a function of the day alone, so
# any day can be set again, in any order, and gives the same rows.
_ADDED = "Added by the demo"
_ADDED_ORDERS = 5  # at most, on top of the generated ones
_EVOLVE_PERIOD = 420  # every change's period divides it: a day and the day 420 days later look alike
EVOLVE = f"""\
update customers as c set city = (array['Oslo', 'Lyon', 'Porto', 'Graz'])[1 + ((%(day)s + s.r) / 3) %% 4]
from (select customer_id, row_number() over (order by customer_id) as r from customers
      where customer_id <> 'ZZDEM' order by customer_id limit 3) as s
where c.customer_id = s.customer_id;
update products set unit_price = 10 + 2 * product_id + ((%(day)s + product_id) / 7) %% 3 where product_id <= 5;
update products set discontinued = case when %(day)s %% 10 >= 4 then 1 else 0 end where product_id = 7;
delete from customers where customer_id = 'ZZDEM' and %(day)s %% 4 = 2;
insert into customers (customer_id, company_name, city, country)
select 'ZZDEM', 'Demo Returns Ltd', 'Tromsø', 'Norway' where %(day)s %% 4 <> 2
on conflict (customer_id) do nothing;
delete from orders where ship_name = '{_ADDED}' and order_id > %(added)s
    + (select max(order_id) from orders where ship_name is distinct from '{_ADDED}');
insert into orders (order_id, customer_id, employee_id, order_date, ship_via, ship_name)
select base.last + k, first.customer_id, first.employee_id, %(date)s::date - (%(added)s - k), first.ship_via, '{_ADDED}'
from (select max(order_id) as last from orders where ship_name is distinct from '{_ADDED}') as base,
     (select customer_id, employee_id, ship_via from orders order by order_id limit 1) as first,
     generate_series(1, %(added)s) as k
on conflict (order_id) do update set order_date = excluded.order_date;
update orders set shipped_date = case when order_date + 2 <= %(date)s::date then order_date + 2 end
where ship_name = '{_ADDED}';
"""


def evolve(cursor, date: str) -> None:
    """Set the demo source to its state on ``date``: what changes from day to day, and nothing else.

    Every three days three customers move; every week five products change price; product 7
    is discontinued for six days in ten; up to five orders are added, one a day, each shipped
    two days after its order date, then all deleted again (a six-day cycle); customer ZZDEM
    is deleted every fourth day and comes back the next, with the same values. History then
    has versions, deletions and returns to show.
    """
    day = (dt.date.fromisoformat(date) - dt.date(2024, 1, 1)).days % _EVOLVE_PERIOD  # any date, even before 2024
    cursor.execute(EVOLVE, {"day": day, "added": day % (_ADDED_ORDERS + 1), "date": date})
