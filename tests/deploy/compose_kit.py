"""Read compose.yaml and the Dockerfile as the tools would: YAML with merge keys, compose's ${VAR} interpolation, exec-form instructions."""
from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"

# Compose's interpolation (https://github.com/compose-spec/compose-spec/blob/main/spec.md#interpolation):
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, and $$ for a literal $.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(KeyError):
    """A ${VAR:?error} whose variable is unset (compose refuses to start)."""


def compose_schema() -> dict:
    """The official compose-spec JSON schema, as vendored by check-jsonschema (from compose-spec/compose-spec schema/compose-spec.json)."""
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json").read_text())


def load_compose(path: Path = COMPOSE_FILE) -> dict:
    """compose.yaml as data (YAML merge keys resolved, no interpolation)."""
    return yaml.safe_load(path.read_text())


def interpolate(value, env: dict[str, str]):
    """Apply compose's interpolation to every string in `value` (MissingVariable for ${VAR:?...} unset)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in env and (env[name] != "" or op in (None, "-", "?"))
        if op in (":?", "?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


def service_environment(compose: dict, service: str, env: dict[str, str]) -> dict[str, str]:
    """A service's environment after interpolation, as strings (what the container gets)."""
    raw = compose["services"][service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: "" if value is None else str(value) for key, value in interpolate(raw, env).items()}


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in joined]


def exec_form(arguments: str) -> list[str]:
    """An exec-form (JSON array) ENTRYPOINT/CMD; ValueError for the shell form."""
    value = json.loads(arguments)
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise ValueError(f"not exec form: {arguments}")
    return value
