"""Printful's API v2 OpenAPI 3.0 description as JSON Schema validators (responses, webhooks; requests: request_validation.py).

OpenAPI 3.0 schemas are almost JSON Schema; the differences that matter here are rewritten
once at load time:
  - `nullable: true` becomes "or null";
  - `oneOf` + `discriminator.mapping` becomes "the schema the discriminator names" (plain
    `oneOf` wrongly fails when two branches both accept a body, e.g. webhook event configs);
  - `$ref` siblings are ignored, as OpenAPI 3.0 says (Draft 7 does the same).
Validation messages name the field and the rule, never the offending value: request bodies
carry addresses, and messages end up in logs.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Iterable

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_PATH = REPO_ROOT.parent / "shared" / "suppliers" / "printful-v2" / "openapi.json"

# API-wide statuses any operation may answer although it does not list them: a request the
# spec refuses (400), authentication (401, 403), a path naming nothing (404). 409 is NOT one:
# only the operations that list it may answer it. 429 is documented in "Rate Limiting".
SHARED_RESPONSES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
RATE_LIMITED = 429


def spec_path() -> Path:
    """Where the spec is: $PRINTFUL_OPENAPI_SPEC, else ../shared beside the repository."""
    return Path(os.environ.get("PRINTFUL_OPENAPI_SPEC") or DEFAULT_SPEC_PATH)


def to_json_schema(node: Any) -> Any:
    """Rewrite an OpenAPI 3.0 schema tree into Draft 7 JSON Schema (see the module docstring)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items()}
    discriminator = out.pop("discriminator", None)
    if isinstance(discriminator, dict) and discriminator.get("mapping") and "oneOf" in out:
        prop = discriminator["propertyName"]
        branches = out.pop("oneOf")
        mapping = discriminator["mapping"]
        selectors = [
            {"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": {"$ref": _schema_ref(target)}}
            for value, target in mapping.items()
        ]
        # The named branch must hold; a value the mapping does not know must still fit some branch.
        out["allOf"] = [*out.get("allOf", []), *selectors, {"anyOf": branches}]
    if out.pop("nullable", False) is True:
        if "type" in out and "$ref" not in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [{"type": "null"}, out]}
    return out


def _schema_ref(target: str) -> str:
    # A discriminator mapping may name a schema instead of giving its reference.
    return target if target.startswith("#") else f"#/components/schemas/{target}"


def _field_path(error: Any) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "(body)"


def describe_errors(errors: Iterable[Any]) -> list[str]:
    """Human-readable, value-free descriptions: `recipient.country_code: type 'string'`."""
    described = []
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        if error.validator == "required":
            missing = [name for name in error.validator_value if isinstance(error.instance, dict) and name not in error.instance]
            described.append(f"{_field_path(error)}: missing required {', '.join(missing) or 'fields'}")
        elif error.validator in ("type", "enum", "const", "minimum", "maximum", "format"):
            described.append(f"{_field_path(error)}: must satisfy {error.validator} {error.validator_value!r}")
        elif error.context:  # anyOf/oneOf: say what the closest branch missed
            described.extend(describe_errors([best_match(error.context)]))
        else:
            described.append(f"{_field_path(error)}: does not match the schema ({error.validator})")
    return list(dict.fromkeys(described))  # allOf chains report one miss several times


class PrintfulSpec:
    """Validators for Printful v2 request bodies, responses and webhook events, from one spec file."""

    def __init__(self, path: Path | None = None):
        self.path = path or spec_path()
        raw = json.loads(self.path.read_text())
        self.raw = raw
        self._components = to_json_schema(raw["components"])
        self._webhooks = raw.get("x-webhooks", {})

    # -- lookups ---------------------------------------------------------------------------

    def _operation(self, method: str, path_template: str) -> dict:
        try:
            return self.raw["paths"][path_template][method.lower()]
        except KeyError:
            raise KeyError(f"the spec has no {method.upper()} {path_template}") from None

    def _resolve(self, node: dict) -> dict:
        """Follow a `#/components/<kind>/<name>` reference to its raw (OpenAPI) object."""
        while "$ref" in node:
            _, _, kind, name = node["$ref"].split("/")
            node = self.raw["components"][kind][name]
        return node

    def _json_schema_of(self, content_holder: dict) -> dict | None:
        holder = self._resolve(content_holder)
        media = holder.get("content", {}).get("application/json")
        return None if media is None else to_json_schema(media["schema"])

    def response_spec(self, method: str, path_template: str, status: int) -> dict | None:
        """The spec's response object for this status (exact, then 5XX/4XX, then shared ones)."""
        responses = self._operation(method, path_template)["responses"]
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return responses[key]
        shared = SHARED_RESPONSES.get(status) or ("ServerError" if 500 <= status < 600 else None)
        return {"$ref": f"#/components/responses/{shared}"} if shared else None

    # -- validation ------------------------------------------------------------------------

    @functools.lru_cache(maxsize=128)
    def _validator(self, key: str) -> Draft7Validator | None:
        kind, _, rest = key.partition(" ")
        if kind == "response":
            method, status, path_template = rest.split(" ", 2)
            response = self.response_spec(method, path_template, int(status))
            schema = self._json_schema_of(response) if response else None
        else:  # webhook
            operation = self._webhooks[rest]["post"]
            schema = self._json_schema_of(operation["requestBody"])
        if schema is None:
            return None
        # Components ride along so "#/components/..." references resolve inside one document.
        return Draft7Validator({"allOf": [schema], "components": self._components})

    def response_errors(self, method: str, path_template: str, status: int, body: Any) -> list[str]:
        """What is wrong with a response body for this operation and status ([] when it fits)."""
        if status == RATE_LIMITED:  # documented in prose only: Printful's error envelope
            return [] if isinstance(body, dict) and body.get("code") == RATE_LIMITED else ["a 429 without Printful's error body"]
        response = self.response_spec(method, path_template, status)
        if response is None:
            return [f"{method.upper()} {path_template} does not document status {status}"]
        validator = self._validator(f"response {method.lower()} {status} {path_template}")
        if validator is None:
            return [] if body in (None, b"", "") else [f"status {status} has no body in the spec"]
        return describe_errors(validator.iter_errors(body))

    def webhook_errors(self, event_type: str, body: Any) -> list[str]:
        """What is wrong with a webhook event body of this type ([] when it fits)."""
        if event_type not in self._webhooks:
            return [f"the spec has no webhook event {event_type!r}"]
        return describe_errors(self._validator(f"webhook {event_type}").iter_errors(body))

    def webhook_event_types(self) -> list[str]:
        """Every event type the spec defines."""
        return list(self._webhooks)

@functools.lru_cache(maxsize=4)
def load_spec(path: str | None = None) -> PrintfulSpec:
    """The spec, parsed once per process."""
    return PrintfulSpec(Path(path) if path else None)
