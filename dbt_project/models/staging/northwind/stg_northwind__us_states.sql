with

source as (

    select * from {{ source('northwind', 'us_states') }}

),

renamed as (

    select

        ---------- ids
        state_id,

        ---------- strings
        state_name,
        state_abbr as state_code,
        state_region

    from source

)

select * from renamed
