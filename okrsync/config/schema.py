"""The published JSON Schema of mapping files, built from the pydantic models.

A key result's ``source`` is typed in the models as a free mapping (its keys
depend on the connection's type); here it becomes ``anyOf`` the source models
of every registered connector, so editors can complete each form.
"""

from __future__ import annotations

from typing import Any

from okrsync.config.registry import Registry
from okrsync.domain.model import MappingFile

SCHEMA_ID = "https://okrsync.dev/schema/mapping-v1.json"


def mapping_schema(registry: Registry) -> dict[str, Any]:
    schema = MappingFile.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    forms = []
    for type_name in registry:
        model = registry[type_name].source_model
        sub = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        name = f"source_{type_name}"
        sub["title"] = f"{type_name} source"
        defs[name] = sub
        forms.append({"$ref": f"#/$defs/{name}"})
    defs["source_manual"] = {
        "title": "manual source",
        "description": "No API: values are recorded with `okrsync checkin KR VALUE`.",
        "type": "object",
        "properties": {"manual": {"const": True}},
        "required": ["manual"],
        "additionalProperties": False,
    }
    forms.append({"$ref": "#/$defs/source_manual"})
    defs["KeyResult"]["properties"]["source"] = {
        "anyOf": [*forms, {"type": "null"}],
        "description": "Where the value comes from; the keys depend on the connection's type.",
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


__all__ = ["mapping_schema"]
