-- Step 2 done by hand in psql, after bench/run.py's \copy of every file into schema bench_copy:
-- the two marts (the same columns and joins as dbt_project/models/marts), the primary keys,
-- and the three relationship checks. The yardstick step 2 is measured against.

create table bench_copy.order_lines as
select
    d.order_id,
    d.product_id,
    o.customer_id,
    c.company_name as customer_name,
    o.employee_id,
    o.order_date,
    o.required_date,
    o.shipped_date,
    p.product_name,
    d.unit_price,
    d.quantity,
    d.discount,
    (d.unit_price * d.quantity * (1 - d.discount))::numeric(18, 4) as line_total
from bench_copy.order_details as d
left join bench_copy.orders as o on d.order_id = o.order_id
left join bench_copy.customers as c on o.customer_id = c.customer_id
left join bench_copy.products as p on d.product_id = p.product_id;

create table bench_copy.orders_mart as
select
    o.order_id,
    o.customer_id,
    c.company_name as customer_name,
    o.employee_id,
    o.ship_via as shipper_id,
    o.order_date,
    o.required_date,
    o.shipped_date,
    coalesce(t.line_count, 0)::integer as line_count,
    coalesce(t.order_total, 0)::numeric(18, 4) as order_total
from bench_copy.orders as o
left join bench_copy.customers as c on o.customer_id = c.customer_id
left join (
    select order_id, count(*) as line_count, sum(unit_price * quantity * (1 - discount)) as order_total
    from bench_copy.order_details
    group by order_id
) as t on o.order_id = t.order_id;

alter table bench_copy.order_lines add primary key (order_id, product_id);
alter table bench_copy.orders_mart add primary key (order_id);
alter table bench_copy.order_details add primary key (order_id, product_id);
alter table bench_copy.orders add primary key (order_id);
alter table bench_copy.customers add primary key (customer_id);
alter table bench_copy.products add primary key (product_id);

select count(*) as order_lines_without_order from bench_copy.order_lines as l
left join bench_copy.orders_mart as o on l.order_id = o.order_id where o.order_id is null;
select count(*) as order_lines_without_product from bench_copy.order_lines as l
left join bench_copy.products as p on l.product_id = p.product_id where p.product_id is null;
select count(*) as orders_without_customer from bench_copy.orders_mart as o
left join bench_copy.customers as c on o.customer_id = c.customer_id
where o.customer_id is not null and c.customer_id is null;
