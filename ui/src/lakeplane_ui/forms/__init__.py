"""Forms of the admin UI: inputs generated from a plugin's Struct, and one form object per
entity that reads what a page posted and builds the domain's create and update Structs."""

from lakeplane_ui.forms._connections import ConnectionForm
from lakeplane_ui.forms._datasets import DatasetForm
from lakeplane_ui.forms._fields import (
    FIX_FIELDS,
    FormField,
    errors_by_field,
    field_errors,
    if_match,
    moment,
    parse,
    struct_errors,
    struct_fields,
    tag_shown,
)
from lakeplane_ui.forms._jobs import PARAMETER_TYPES, JobForm, JobSaveError, JobTypes
from lakeplane_ui.forms._users import UserForm

__all__ = [
    "FIX_FIELDS",
    "PARAMETER_TYPES",
    "ConnectionForm",
    "DatasetForm",
    "FormField",
    "JobForm",
    "JobSaveError",
    "JobTypes",
    "UserForm",
    "errors_by_field",
    "field_errors",
    "if_match",
    "moment",
    "parse",
    "struct_errors",
    "struct_fields",
    "tag_shown",
]
