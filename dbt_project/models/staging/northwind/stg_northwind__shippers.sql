with

source as (

    select * from {{ source('northwind', 'shippers') }}

),

renamed as (

    select

        ---------- ids
        shipper_id,

        ---------- strings
        company_name as shipper_name,
        phone

    from source

)

select * from renamed
