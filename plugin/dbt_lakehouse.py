"""dbt imports every top-level ``dbt_*`` module and starts the plugins it lists whenever it loads a project."""

from extract.dbt_plugin import WriterLock

plugins = [WriterLock]
