"""A stage's Zappa settings, from the deploy/zappa_settings.json template, and the
zappa command lines that use them.

The template is plain Zappa settings with `${name}` placeholders (stage, region,
bucket, bundle_url, state_table, role_arn). Zappa does not manage the execution role
(`zappa deploy --zip` would not create one anyway): `deploy lambda` makes a least-privilege
role itself (deploy.iam) and names it in `role_arn`. Deploy-time values go to
`aws_environment_variables` (the function's environment), never to
`environment_variables`, which Zappa writes into zappa_settings.py inside the zip; the
X credentials go to neither (SSM, read at cold start).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

from model.errors import InputError

TEMPLATE = Path(__file__).with_name("zappa_settings.json")
SECRET_SETTINGS = ("environment_variables", "remote_env")  # baked into the zip or a plain file


@dataclass(frozen=True)
class StageValues:
    stage: str
    region: str
    bucket: str
    bundle_url: str  # s3://bucket/prefix/name/version ("" while only packaging)
    state_table: str
    role_arn: str = ""  # the execution role deploy makes (deploy.iam); "" while packaging


def _fill(value, values: dict):
    if isinstance(value, str):
        try:
            return Template(value).substitute(values)
        except (KeyError, ValueError) as exc:
            raise InputError(f"unknown or malformed placeholder in {value!r}: {exc}",
                             path=str(TEMPLATE)) from None
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {_fill(key, values): _fill(item, values) for key, item in value.items()}
    return value


def stage_settings(values: StageValues, template: Path = TEMPLATE) -> dict:
    """{stage: settings} for Zappa, checked not to carry secrets into the zip."""
    try:
        raw = json.loads(template.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable Zappa settings template: {exc}", path=str(template)) from None
    settings = _fill(raw, asdict(values))
    if list(settings) != [values.stage]:
        raise InputError("the template must hold exactly one stage, keyed ${stage}",
                         path=str(template))
    for key in SECRET_SETTINGS:
        if settings[values.stage].get(key):
            raise InputError(f"{key} must stay empty: Zappa bakes it into the zip; use "
                             "aws_environment_variables (or SSM for secrets)", path=str(template))
    return settings


def function_name(settings: dict, stage: str) -> str:
    """The Lambda function's name, as Zappa derives it (slug of project_name-stage)."""
    from slugify import slugify  # python-slugify, a Zappa dependency

    return slugify(f"{settings[stage]['project_name']}-{stage}")


def write_settings(settings: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return path


def zappa_settings_py(settings_path: Path, stage: str) -> str:
    """zappa_settings.py exactly as `zappa package` would generate it for this stage."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_settings(str(settings_path))
    return cli.get_zappa_settings_string()


def zappa_executable() -> str:
    """The `zappa` script of this environment (Zappa is not runnable with -m)."""
    return str(Path(sys.executable).with_name("zappa"))


def zappa_command(action: str, stage: str, settings_path: Path,
                  zip_url: str | None = None) -> list[str]:
    command = [zappa_executable(), action, stage, "-s", str(settings_path)]
    if zip_url is not None:
        command += ["--zip", zip_url]
    if action == "undeploy":
        command += ["--yes", "--remove-logs"]
    return command
