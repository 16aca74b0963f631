with

source as (

    select * from {{ source('northwind', 'employees') }}

),

renamed as (

    select

        ---------- ids
        employee_id,
        reports_to as manager_id,

        ---------- strings
        last_name,
        first_name,
        title,
        title_of_courtesy,
        address,
        city,
        region,
        postal_code,
        country,
        home_phone,
        extension,
        notes,
        photo_path,

        ---------- binaries
        photo,

        ---------- dates
        birth_date,
        hire_date

    from source

)

select * from renamed
