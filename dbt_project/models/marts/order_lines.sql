with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_orders') }}

),

typed as (

    select
        cast(order_id as integer) as order_id,
        cast(product_id as integer) as product_id,
        cast(customer_id as {{ lake_text_type() }}) as customer_id,
        cast(customer_name as {{ lake_text_type() }}) as customer_name,
        cast(employee_id as integer) as employee_id,
        order_date,
        required_date,
        shipped_date,
        cast(product_name as {{ lake_text_type() }}) as product_name,
        cast(unit_price as numeric(18, 4)) as unit_price,
        cast(quantity as integer) as quantity,
        cast(discount as numeric(18, 4)) as discount,
        cast(line_total as numeric(18, 4)) as line_total

    from order_lines

)

select * from typed
