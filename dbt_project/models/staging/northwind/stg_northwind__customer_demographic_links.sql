with

source as (

    select * from {{ source('northwind', 'customer_customer_demo') }}

),

renamed as (

    select

        ---------- ids
        customer_id,
        customer_type_id

    from source

)

select * from renamed
