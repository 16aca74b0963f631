with

source as (

    select * from {{ source('northwind', 'orders') }}

),

renamed as (

    select

        ---------- ids
        order_id,
        customer_id,
        employee_id,
        ship_via as shipper_id,

        ---------- strings
        ship_name,
        ship_address,
        ship_city,
        ship_region,
        ship_postal_code,
        ship_country,

        ---------- numerics
        freight,

        ---------- dates
        order_date,
        required_date,
        shipped_date

    from source

)

select * from renamed
