{#
    `ref`, redirected to the unpublished twin of a model this command writes: tests audit
    what was just built. A model left out of a `--select` is read where it is published.
    Models are matched by name in this project (it has no versions and no packages).
#}
{% macro ref() %}
    {% set relation = builtins.ref(*varargs, **kwargs) %}
    {% if lakehouse_writing() and ('model.' ~ project_name ~ '.' ~ varargs[-1]) in selected_resources %}
        {{ return(lakehouse_building(relation)) }}
    {% endif %}
    {{ return(relation) }}
{% endmacro %}
