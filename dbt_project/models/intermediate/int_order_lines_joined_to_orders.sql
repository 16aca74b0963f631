with

order_details as (

    select * from {{ ref('stg_csv__order_details') }}

),

orders as (

    select * from {{ ref('stg_northwind__orders') }}

),

customers as (

    select * from {{ ref('stg_northwind__customers') }}

),

products as (

    select * from {{ ref('stg_northwind__products') }}

),

order_lines_joined as (

    select
        order_details.order_id,
        order_details.product_id,
        orders.customer_id,
        customers.customer_name,
        orders.employee_id,
        orders.order_date,
        orders.required_date,
        orders.shipped_date,
        products.product_name,
        order_details.unit_price,
        order_details.quantity,
        order_details.discount,
        order_details.line_total

    from order_details
    left join orders
        on order_details.order_id = orders.order_id
    left join customers
        on orders.customer_id = customers.customer_id
    left join products
        on order_details.product_id = products.product_id

)

select * from order_lines_joined
