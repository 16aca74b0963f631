with

source as (

    select * from {{ source('northwind', 'customers') }}

),

renamed as (

    select

        ---------- ids
        customer_id,

        ---------- strings
        company_name as customer_name,
        contact_name,
        contact_title,
        address,
        city,
        region,
        postal_code,
        country,
        phone,
        fax

    from source

)

select * from renamed
