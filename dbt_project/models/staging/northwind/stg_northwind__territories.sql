with

source as (

    select * from {{ source('northwind', 'territories') }}

),

renamed as (

    select

        ---------- ids
        territory_id,
        region_id,

        ---------- strings
        territory_description as territory_name

    from source

)

select * from renamed
