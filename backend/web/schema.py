"""The reply API's shapes, defined once: published as OpenAPI and enforced by `validate`.

`validate` checks a value with fastjsonschema (a maintained, pure-Python JSON Schema
validator: the Lambda zip is built offline from manylinux wheels, and jsonschema would
bring the compiled rpds-py), compiled once per schema, so /openapi.json and the server's
checks cannot drift apart. A `pattern` means what it means to JSON Schema (ECMA-262),
not to Python's `re`: each is translated before compiling (`_ecma_pattern`), so `$` is
the end of the string and an id "abc\n" is refused.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

import fastjsonschema
from werkzeug.http import parse_options_header

from model.serve.decode import MAX_SEED

MAX_BODY_BYTES = 16 * 1024
MAX_MESSAGE_CHARS = 2000
MAX_CONTEXT_ITEMS = 20
MAX_SESSION_ID_CHARS = 128

_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "array": "an array",
    "object": "an object",
}
# ECMA-262's \d, \w and \s as Python character-class members: ASCII digits and word
# characters (Python's are Unicode-wide), and WhiteSpace plus LineTerminator (Python's
# \s lacks U+FEFF and has U+001C..U+001F).
_ECMA_CLASSES = {
    "d": "0-9",
    "w": "A-Za-z0-9_",
    "s": "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff",
}
_ECMA_DOT = "[^\n\r\u2028\u2029]"  # Python's . stops only at \n
_SAME_ESCAPES = re.compile(r"u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[tnrfv]|[^0-9A-Za-z]")


class ValidationError(ValueError):
    """One bad field: `field` names it (e.g. `context[3]`), `keyword` the rule it broke."""

    def __init__(self, field: str, message: str, keyword: str = ""):
        self.field = field
        self.keyword = keyword
        super().__init__(message)


def reply_request_schema(personas: list[str]) -> dict:
    persona = {"type": "string", "description": "who answers; default: the bundle's persona"}
    if personas:
        persona["enum"] = list(personas)
    text = {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS}
    return {
        "type": "object",
        "required": ["message"],
        "additionalProperties": False,
        "properties": {
            "message": {**text, "pattern": r"\S",
                        "description": "the new turn; several messages joined by ' <brk> '"},
            "context": {"type": "array", "maxItems": MAX_CONTEXT_ITEMS,
                        "items": {"type": "string", "maxLength": MAX_MESSAGE_CHARS},
                        "description": "earlier turns, oldest first"},
            "session_id": {"type": "string", "minLength": 1, "maxLength": MAX_SESSION_ID_CHARS,
                           "pattern": r"^[A-Za-z0-9_.:-]+$",
                           "description": "\"new\" starts a session; then send the session_id "
                                          "of each response back: the server keeps its recent "
                                          "turns. Ids are the server's: one it did not issue, or "
                                          "one that expired, starts a new session"},
            "persona": persona,
            "temperature": {"type": "number", "minimum": 0, "maximum": 2,
                            "description": "sampling temperature; below 0.01 = greedy"},
            "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                      "description": "nucleus sampling mass"},
            "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED,
                     "description": "makes sampling repeatable"},
        },
    }


REPLY_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["reply", "messages", "persona", "model", "latency_ms"],
    "properties": {
        "reply": {"type": "string"},
        "messages": {"type": "array", "items": {"type": "string"}},
        "persona": {"type": "string"},
        "model": {"type": "string"},
        "latency_ms": {"type": "number", "minimum": 0},
        "session_id": {"type": "string", "description": "the session's id (when the request "
                                                        "had one): send it with the next turn"},
    },
}

PERSONAS_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["personas", "default", "model"],
    "properties": {
        "personas": {"type": "array", "items": {"type": "string"}},
        "default": {"type": "string"},
        "model": {"type": "string"},
    },
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def openapi_document(personas: list[str], model: str, api_key_required: bool) -> dict:
    """The OpenAPI 3.1 description of this server, built from the same schemas it enforces."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def failure(text: str, **extra) -> dict:
        return {"description": text, **error, **extra}

    reply_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Reply"}}}
    reply_responses = {
        "200": {"description": "the persona's reply", "content": reply_body},
        "400": failure("malformed JSON or a field out of range (the message names the field)"),
        "413": failure(f"body over {MAX_BODY_BYTES} bytes"),
        "415": failure("body not sent as Content-Type: application/json"),
        "429": failure("rate limited", headers={"Retry-After": {
            "description": "seconds to wait", "schema": {"type": "integer"}}}),
        "503": failure("model not loaded"),
    }
    reply_operation = {
        "summary": "Answer a message in the persona's voice",
        "operationId": "reply",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ReplyRequest"}}}},
        "responses": reply_responses,
    }
    components = {
        "schemas": {
            "ReplyRequest": reply_request_schema(personas),
            "Reply": REPLY_RESPONSE_SCHEMA,
            "Personas": PERSONAS_RESPONSE_SCHEMA,
            "Error": ERROR_SCHEMA,
        }
    }
    if api_key_required:
        reply_responses["401"] = failure("API key missing or wrong")
        reply_operation["security"] = [{"bearer": []}, {"apiKey": []}]
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    status = {"type": "object", "required": ["status"],
              "properties": {"status": {"type": "string"}}}

    def plain(text: str, media: str, schema: dict | None = None) -> dict:
        return {"description": text, "content": {media: {"schema": schema or {"type": "string"}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "Doppel reply API", "version": "1",
                 "description": f"Replies in the voice of model {model!r}."},
        "paths": {
            "/api/reply": {"post": reply_operation},
            "/api/personas": {"get": {
                "summary": "Personas the model can answer as", "operationId": "personas",
                "responses": {"200": plain("names; `default` answers when none is given",
                                           "application/json",
                                           {"$ref": "#/components/schemas/Personas"}),
                              "503": failure("model not loaded")}}},
            "/healthz": {"get": {"summary": "The process is up", "operationId": "healthz",
                                 "responses": {"200": plain("up", "application/json", status)}}},
            "/readyz": {"get": {"summary": "The model is loaded and decoded a test reply",
                                "operationId": "readyz",
                                "responses": {"200": plain("ready", "application/json", status),
                                              "503": plain("not ready", "application/json",
                                                           status)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics",
                                 "responses": {"200": plain("Prometheus text format",
                                                            "text/plain")}}},
        },
        "components": components,
    }


def json_media_type_error(content_type: str | None) -> str:
    """Why a body sent as `content_type` is not read as JSON; "" when it is.

    Only application/json (with at most charset=utf-8): a page on another site can post
    text/plain, forms and multipart without a CORS preflight, never application/json.
    """
    media_type, params = parse_options_header(content_type or "")
    if (media_type.lower() == "application/json" and set(params) <= {"charset"}
            and params.get("charset", "utf-8").lower() == "utf-8"):
        return ""
    got = repr(content_type) if content_type else "none"
    return f"Content-Type must be application/json (UTF-8), got {got}"


def validate(value: Any, schema: dict, field: str = "body") -> None:
    """Raise ValidationError for the first place where `value` breaks `schema`."""
    _check_values(value, field)
    try:
        _validator(json.dumps(schema, sort_keys=True))(value)
    except fastjsonschema.JsonSchemaValueException as error:
        raise _validation_error(error, field) from None


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str):
    """The compiled validator of a schema, its patterns spelled in Python's `re`."""
    return fastjsonschema.compile(_python_patterns(json.loads(schema_json)))


def _python_patterns(schema):
    """A copy of `schema` whose `pattern`s mean in Python what they mean to ECMA-262; the
    original stays beside each (x-ecma-pattern) for the error message."""
    if isinstance(schema, list):
        return [_python_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _python_patterns(value) for key, value in schema.items()}
    if isinstance(schema.get("pattern"), str):
        copy["pattern"] = _ecma_pattern(schema["pattern"]).pattern
        copy["x-ecma-pattern"] = schema["pattern"]
    return copy


def _check_values(value: Any, field: str) -> None:
    """What JSON Schema leaves to the parser: NaN and infinities (Python's json reads
    them) are not numbers, and a string must be encodable (no lone surrogates)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, f"{field} must be a number", "type")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(field, f"{field} is not valid unicode") from None
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{field}[{index}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_values(item, name if field == "body" else f"{field}.{name}")


def _validation_error(error: fastjsonschema.JsonSchemaValueException,
                      root: str) -> ValidationError:
    """fastjsonschema's error as ours: the field as the API names it, a plain message."""
    path = error.name.removeprefix("data").lstrip(".")
    field = path or root
    rule, schema, value = error.rule, error.definition, error.value
    if rule == "required":
        missing = next(name for name in schema["required"] if name not in value)
        return ValidationError(missing, f"{missing} is required", rule)
    if rule == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))[0]
        return ValidationError(extra, f"unknown field {extra!r}; allowed: "
                                      f"{', '.join(schema.get('properties', {}))}", rule)
    messages = {
        "type": lambda: f"must be {_TYPE_NAMES.get(schema['type'], schema['type'])}",
        "enum": lambda: f"must be one of: {', '.join(map(str, schema['enum']))} (got {value!r})",
        "minLength": lambda: "must not be empty",
        "maxLength": lambda: f"is {len(value)} characters; at most {schema['maxLength']} allowed",
        "pattern": lambda: f"must match {schema.get('x-ecma-pattern', schema['pattern'])}",
        "minimum": lambda: f"must be at least {schema['minimum']}",
        "exclusiveMinimum": lambda: f"must be above {schema['exclusiveMinimum']}",
        "maximum": lambda: f"must be at most {schema['maximum']}",
        "maxItems": lambda: f"has {len(value)} items; at most {schema['maxItems']} allowed",
    }
    text = messages[rule]() if rule in messages else error.message.removeprefix(error.name + " ")
    return ValidationError(field, f"{field} {text}", rule)


@functools.cache
def _ecma_pattern(pattern: str) -> re.Pattern:
    r"""A JSON Schema `pattern` compiled to mean in Python's `re` what it means in ECMA-262.

    Where the two differ, the ECMA meaning is spelled out: `$` is the end of the string
    (Python's also matches before a final newline, so "abc\n" would pass ^[a-z]+$), `.`
    stops at every line terminator, and \d, \w, \s are ECMA's sets. Syntax whose meaning
    may differ otherwise (\b, \p, backreferences, named groups, ...) is refused, as
    unknown keywords are. Matching is by code point, as with ECMA's `u` flag.
    """
    out, in_class, at = [], False, 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            text, at = _ecma_escape(pattern, at, in_class)
            out.append(text)
            continue
        if in_class:
            in_class = char != "]"
            out.append("\\[" if char == "[" else char)  # [ is a literal in ECMA classes
        elif pattern.startswith(("[]", "[^]"), at):  # nothing / anything to ECMA only
            raise AssertionError(f"pattern {pattern!r}: empty classes are not supported")
        elif pattern.startswith("(?", at) and not pattern.startswith(("(?:", "(?=", "(?!"), at):
            raise AssertionError(f"pattern {pattern!r}: groups but (?: (?= (?! are not supported")
        else:
            in_class = char == "["
            out.append({"$": r"\Z", ".": _ECMA_DOT}.get(char, char))
        at += 1
    return re.compile("".join(out))


def _ecma_escape(pattern: str, at: int, in_class: bool) -> tuple[str, int]:
    """The escape at `at` as Python spells it, and where the pattern goes on."""
    letter = pattern[at + 1:at + 2]
    if letter.lower() in _ECMA_CLASSES and not (in_class and letter.isupper()):
        members = _ECMA_CLASSES[letter.lower()]
        negated = "^" if letter.isupper() else ""
        return (members if in_class else f"[{negated}{members}]"), at + 2
    same = _SAME_ESCAPES.match(pattern, at + 1)
    if not same:
        raise AssertionError(f"pattern {pattern!r}: \\{letter} is not supported here")
    return pattern[at:same.end()], same.end()
