"""Every request to the Printful sandbox checked against the spec by openapi-core: path, query, headers and body.

openapi-core is an independent, well-kept OpenAPI 3 validator: the sandbox does not judge
requests with code written alongside the adapter. Two things are set aside on purpose:
  - the spec document's own validity (`spec_validator_cls=None`): the published file has a
    duplicated enum value in an unrelated OAuth-scopes schema, which a strict spec check
    refuses although every operation is well-formed;
  - security: the sandbox checks the Bearer token itself (401 before validation, as
    Printful answers an unauthenticated request).
Messages name the part and the field and the rule, never the offending value (bodies carry
addresses, and messages reach logs).
"""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.request.exceptions import SecurityValidationError

from .openapi_spec import describe_errors, spec_path


@functools.lru_cache(maxsize=4)
def printful_openapi(path: str | None = None) -> OpenAPI:
    """The spec as an openapi-core OpenAPI object, parsed once per process."""
    raw = json.loads(Path(path or spec_path()).read_text())
    return OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None))


def _describe(error: BaseException) -> list[str]:
    """Value-free descriptions of an openapi-core error and the schema errors under it."""
    name = getattr(error, "name", None) or getattr(error.__cause__, "name", None)
    schema_errors = [e for cause in (error, error.__cause__) for e in getattr(cause, "schema_errors", None) or ()]
    head = f"{type(error).__name__}{f' ({name})' if name else ''}"
    return [head, *describe_errors(schema_errors)]


def request_problems(
    method: str, raw_path: str, query: Iterable[tuple[str, str]], headers: Mapping[str, str], body: bytes | None,
    content_type: str | None, host_url: str = "https://api.printful.com", spec: OpenAPI | None = None,
) -> list[str]:
    """What is wrong with this request for the spec ([] when it is valid; an unknown operation is a problem too)."""
    spec = spec or printful_openapi()
    args: dict[str, Any] = {}
    for name, value in query:
        args.setdefault(name, value)
    request = MockRequest(host_url, method.lower(), raw_path, args=args, headers=dict(headers), data=body or None,
                          content_type=content_type or ("application/json" if body else None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type": security is the sandbox's own check
        try:
            spec.validate_request(request)
        except (PathNotFound, OperationNotFound):
            return [f"the spec has no {method.upper()} {raw_path.split('?')[0]}"]
        except SecurityValidationError:
            return []
        except Exception as error:  # openapi-core's validation errors share no narrower public base
            return _describe(error)
    return []


def response_problems(
    method: str, raw_path: str, status: int, headers: Mapping[str, str], body: bytes, content_type: str | None,
    host_url: str = "https://api.printful.com", spec: OpenAPI | None = None,
) -> list[str]:
    """What is wrong with a response for this operation per openapi-core ([] when it fits)."""
    spec = spec or printful_openapi()
    request = MockRequest(host_url, method.lower(), raw_path)
    response = MockResponse(body, status_code=status, headers=dict(headers), content_type=content_type or "application/json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec.validate_response(request, response)
        except Exception as error:
            return _describe(error)
    return []
