"""The OpenAPI side: the config behind /docs, and the schema of structs that refuse extras."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """A Struct with ``forbid_unknown_fields`` is documented with ``additionalProperties: false``.

    The request bodies refuse unknown fields (a typo such as ``priorty`` is a 400, not silently
    ignored), so their schema says so and generated clients and fuzzers agree with the server.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        struct_config: msgspec.structs.StructConfig = field_definition.type_.__struct_config__
        return struct_config.forbid_unknown_fields

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
