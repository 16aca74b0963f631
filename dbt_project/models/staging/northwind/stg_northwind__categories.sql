with

source as (

    select * from {{ source('northwind', 'categories') }}

),

renamed as (

    select

        ---------- ids
        category_id,

        ---------- strings
        category_name,
        description,

        ---------- binaries
        picture

    from source

)

select * from renamed
