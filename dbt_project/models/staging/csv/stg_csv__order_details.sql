with

source as (

    select * from {{ source('csv', 'order_details') }}

),

renamed as (

    select

        ---------- ids
        cast(order_id as integer) as order_id,
        cast(product_id as integer) as product_id,

        ---------- numerics
        cast(unit_price as numeric(18, 4)) as unit_price,
        cast(quantity as integer) as quantity,
        cast(discount as numeric(18, 4)) as discount

    from source

),

priced as (

    select
        *,
        unit_price * quantity * (1 - discount) as line_total

    from renamed

)

select * from priced
