"""The `.sql` files are Jinja templates that dbt runs as they are (`sql/` is a dbt project); this
module renders them for the connector, with the subset of dbt's Jinja they use:

- `source('bsg_campaigns', table)` and `ref(model)` render the bare table name, which
  sqlcompile.qualify then qualifies with the dataset (and refuses when it is unknown);
- `var(name, default)` reads the vars of `sql/dbt_project.yml`, under the connector's own:
  `bsg_campaigns_run_relations` is true, so the check macros name the relations the runner
  provides (`check_context`, `known_message_statuses`) instead of dbt's stand-ins;
- `config(**kwargs)` records its arguments and renders them as header comments (`-- severity:
  warning` for dbt's `severity='warn'`), which is where sqlcompile.parse_header reads a check's
  severity;
- the macros of `sql/macros/*.sql`, with dbt's `{% do return(value) %}` for a macro that returns a
  value rather than text.

The rendered text is what sqlglot parses and what viewcache's keys hash, so a change of a macro or
a var that changes the SQL changes the compiled statements' key too.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Tuple

import jinja2
import yaml

from bsg_campaigns import settings
from bsg_campaigns.analyst.exceptions import SqlModelError

SOURCE_NAME = "bsg_campaigns"  # the source of sql/staging/_bsg_campaigns__sources.yml
MACRO_DIR = "macros"
RUN_RELATIONS_VAR = "bsg_campaigns_run_relations"
# dbt's severity names -> the connector's (its reports say "warning").
_SEVERITIES = {"warn": "warning", "error": "error"}
# Each `{% macro name(...) %}...{% endmacro %}` block. Compiled one template per macro (as dbt does),
# so that a macro calling another finds it among the globals, where its `return()` is caught.
_MACRO_BLOCK_RE = re.compile(
    r"\{%-?\s*macro\s+([A-Za-z_]\w*)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.DOTALL
)

_NO_DEFAULT = object()


class _MacroReturn(Exception):
    """dbt's `return(value)`: ends the macro, which then evaluates to `value`."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _return(value: Any) -> None:
    raise _MacroReturn(value)


def _callable_macro(name: str, compiled: Mapping[str, Callable[..., Any]]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled[name](*args, **kwargs)
        except _MacroReturn as returned:
            return returned.value

    return call


@dataclass(frozen=True)
class Rendered:
    text: str
    config: Mapping[str, Any]


class SqlProject:
    """One `sql/` folder: its vars and macros, compiled once; `render()` per file."""

    def __init__(self, sql_dir: Path, project_text: str, macro_texts: Tuple[Tuple[str, str], ...]) -> None:
        self.sql_dir = sql_dir
        self.vars: Dict[str, Any] = dict((yaml.safe_load(project_text) or {}).get("vars") or {})
        self.vars[RUN_RELATIONS_VAR] = True
        self._config: Dict[str, Any] = {}
        self._lock = threading.Lock()  # config() records into the one shared environment
        self._templates: Dict[str, jinja2.Template] = {}  # by source text
        self.env = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined,
                                      keep_trailing_newline=True, autoescape=False)
        self.env.globals.update({"source": self._source, "ref": self._ref, "var": self._var,
                                 "config": self._config_call, "return": _return})
        # Every name first, then the templates: a template looks up the names it calls when it is
        # compiled, so each must find every macro's entry, whatever the files' order.
        blocks: Dict[str, str] = {}
        compiled: Dict[str, Callable[..., Any]] = {}
        for file_name, text in macro_texts:
            for block in _MACRO_BLOCK_RE.finditer(text):
                name = block.group(1)
                if name in self.env.globals:
                    raise SqlModelError(f"{sql_dir / MACRO_DIR / file_name}: macro {name} defined twice")
                blocks[name] = block.group(0)
                self.env.globals[name] = _callable_macro(name, compiled)
        for name, block_text in blocks.items():
            compiled[name] = getattr(self.env.from_string(block_text).module, name)

    def _source(self, source_name: str, table: str) -> str:
        if source_name != SOURCE_NAME:
            raise SqlModelError(f"unknown source {source_name!r} (the connector's is {SOURCE_NAME!r})")
        return table

    def _ref(self, *names: str) -> str:
        return names[-1]  # ref('model') or ref('package', 'model'): one project here

    def _var(self, name: str, default: Any = _NO_DEFAULT) -> Any:
        if name in self.vars:
            return self.vars[name]
        if default is _NO_DEFAULT:
            raise SqlModelError(f"var {name!r} is not defined in {self.sql_dir / settings.DBT_PROJECT_FILE}")
        return default

    def _config_call(self, **kwargs: Any) -> str:
        self._config.update(kwargs)
        lines = []
        for key, value in kwargs.items():
            shown = _SEVERITIES.get(value, value) if key == "severity" else value
            lines.append(f"-- {key}: {shown}")
        return "\n".join(lines)

    def render(self, relative_path: str) -> Rendered:
        path = self.sql_dir / relative_path
        try:
            source = path.read_text(encoding="utf-8")
            with self._lock:
                template = self._templates.get(source)
                if template is None:
                    template = self._templates[source] = self.env.from_string(source)
                self._config = {}
                text = template.render()
                config = dict(self._config)
        except jinja2.TemplateError as ex:
            raise SqlModelError(f"{path}: cannot render the template: {ex}") from ex
        return Rendered(text=text, config=config)


# Compiled projects by the content of their vars and macros (a test edits copies of sql/).
_PROJECTS: Dict[str, SqlProject] = {}
_MAX_PROJECTS = 16
_PROJECTS_LOCK = threading.Lock()


def sql_project(sql_dir: Path) -> SqlProject:
    """The project of `sql_dir`, compiled again only when dbt_project.yml or a macro file changed."""
    project_text = (sql_dir / settings.DBT_PROJECT_FILE).read_text(encoding="utf-8")
    macro_texts = tuple((p.name, p.read_text(encoding="utf-8"))
                        for p in sorted((sql_dir / MACRO_DIR).glob("*.sql")))
    key = hashlib.sha256(repr((str(sql_dir), project_text, macro_texts)).encode()).hexdigest()
    with _PROJECTS_LOCK:
        project = _PROJECTS.get(key)
        if project is None:
            if len(_PROJECTS) >= _MAX_PROJECTS:
                _PROJECTS.clear()
            project = _PROJECTS[key] = SqlProject(sql_dir, project_text, macro_texts)
    return project


def render(sql_dir: Path, relative_path: str) -> Rendered:
    return sql_project(sql_dir).render(relative_path)
