with

source as (

    select * from {{ source('northwind', 'region') }}

),

renamed as (

    select

        ---------- ids
        region_id,

        ---------- strings
        region_description as region_name

    from source

)

select * from renamed
