"""Templates: the built-in ones, a user's own (in Jinja's sandbox), and the fallback between.

Each file present in ``template_dir`` replaces its built-in twin, and the ``subject`` setting
replaces the subject template; these are compiled before the job starts (``check``), so that
a syntax error is a configuration error. One that fails to render falls back to the
built-in one, and the report says which and why. A user's templates may come from a
ConfigMap anyone in the namespace can edit: they run in the immutable sandbox, where
``cycler.__init__.__globals__`` leads nowhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import jinja2.sandbox

from lognotify.errors import ConfigError
from lognotify.record import Record
from lognotify.text import neutralise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

BUILTIN = Path(__file__).with_name("templates")
NAMES = ("subject.txt.j2", "body.txt.j2", "body.html.j2")
SUBJECT = "subject (LOGNOTIFY_SUBJECT)"


class Rendered(Record):
    """The subject and the two bodies; ``errors``: the custom templates that failed, and why."""

    subject: str
    text: str
    html: str
    errors: tuple[str, ...] = ()


def _options(html: bool) -> dict[str, Any]:
    return {
        "autoescape": html,
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }


def builtin_environment(
    html: bool, cache: jinja2.BytecodeCache | None = None
) -> jinja2.Environment:
    """The environment of the built-in templates (compiled ones kept in ``cache``)."""
    from lognotify.report.cache import TemplateCache

    loader = jinja2.FileSystemLoader(str(BUILTIN))
    cache = TemplateCache() if cache is None else cache
    return jinja2.Environment(loader=loader, bytecode_cache=cache, **_options(html))


def _sandbox(html: bool, loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    return jinja2.sandbox.ImmutableSandboxedEnvironment(loader=loader, **_options(html))


def _custom(subject: str | None, template_dir: str | None) -> dict[str, jinja2.Template]:
    """The user's templates, compiled; raises jinja2's errors as they are."""
    found: dict[str, jinja2.Template] = {}
    if template_dir:
        loader = jinja2.FileSystemLoader(template_dir)
        for name in NAMES:
            if (Path(template_dir) / name).is_file():
                found[name] = _sandbox(name.endswith(".html.j2"), loader).get_template(name)
    if subject is not None:
        found["subject.txt.j2"] = _sandbox(False).from_string(subject)
    return found


def check(subject: str | None, template_dir: str | None) -> None:
    """Compile the user's templates now: a syntax error is a :class:`ConfigError` naming the
    setting or the file, and the line."""
    if subject is None and not template_dir:
        return
    try:
        _custom(subject, template_dir)
    except jinja2.TemplateSyntaxError as exc:
        where = SUBJECT if exc.name is None else os.path.join(template_dir or "", exc.name)
        raise ConfigError(f"{where}: line {exc.lineno}: {neutralise(exc.message or '')}") from None
    except (OSError, UnicodeDecodeError, jinja2.TemplateError) as exc:
        raise ConfigError(f"{template_dir}: {type(exc).__name__}: {neutralise(str(exc))}") from None


def render(
    context: Mapping[str, object], *, subject: str | None = None, template_dir: str | None = None
) -> Rendered:
    """Render the three templates with ``context``; a custom one that fails is replaced by the
    built-in one, and ``template_errors`` in the context says so, whichever shows it."""
    try:
        custom = _custom(subject, template_dir)
    except Exception as exc:  # changed or removed since check(): the built-in ones will do
        custom, early = (
            {},
            [f"{template_dir or SUBJECT}: {type(exc).__name__}: {neutralise(str(exc))}"],
        )
    else:
        early = []
    values = {**context, "template_errors": tuple(early)}
    failed = _failures(custom, values)
    errors = tuple(early + list(failed.values()))
    values["template_errors"] = errors
    rendered = {}
    for name in NAMES:
        template = custom.get(name) if name not in failed else None
        if template is None:
            template = builtin_environment(name.endswith(".html.j2")).get_template(name)
        rendered[name] = template.render(values)
    if not rendered["subject.txt.j2"].strip():  # a custom subject that renders to nothing
        rendered["subject.txt.j2"] = (
            builtin_environment(False).get_template("subject.txt.j2").render(values)
        )
    return Rendered(
        subject=rendered["subject.txt.j2"],
        text=rendered["body.txt.j2"],
        html=rendered["body.html.j2"],
        errors=errors,
    )


def _failures(
    custom: Mapping[str, jinja2.Template], values: Mapping[str, object]
) -> dict[str, str]:
    """The custom templates that fail to render, each with why."""
    failed = {}
    for name, template in custom.items():
        try:
            template.render(values)
        except Exception as exc:  # any failure of a custom template falls back
            label = SUBJECT if name == "subject.txt.j2" and template.name is None else name
            failed[name] = f"{label}: {type(exc).__name__}: {neutralise(str(exc))}"
    return failed
