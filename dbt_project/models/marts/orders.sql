with

orders as (

    select * from {{ ref('stg_northwind__orders') }}

),

customers as (

    select * from {{ ref('stg_northwind__customers') }}

),

order_details as (

    select * from {{ ref('stg_csv__order_details') }}

),

order_totals as (

    select
        order_id,
        count(*) as line_count,
        sum(line_total) as order_total

    from order_details
    group by order_id

),

orders_with_totals as (

    select
        cast(orders.order_id as integer) as order_id,
        cast(orders.customer_id as {{ lake_text_type() }}) as customer_id,
        cast(
            customers.customer_name as {{ lake_text_type() }}
        ) as customer_name,
        cast(orders.employee_id as integer) as employee_id,
        cast(orders.shipper_id as integer) as shipper_id,
        orders.order_date,
        orders.required_date,
        orders.shipped_date,
        cast(coalesce(order_totals.line_count, 0) as integer) as line_count,
        cast(
            coalesce(order_totals.order_total, 0) as numeric(18, 4)
        ) as order_total

    from orders
    left join customers
        on orders.customer_id = customers.customer_id
    left join order_totals
        on orders.order_id = order_totals.order_id

)

select * from orders_with_totals
