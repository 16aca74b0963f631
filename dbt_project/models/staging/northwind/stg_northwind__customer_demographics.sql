with

source as (

    select * from {{ source('northwind', 'customer_demographics') }}

),

renamed as (

    select

        ---------- ids
        customer_type_id,

        ---------- strings
        customer_desc as customer_type_description

    from source

)

select * from renamed
