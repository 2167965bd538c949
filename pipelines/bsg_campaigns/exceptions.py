"""One hierarchy for everything the connector raises on purpose. Each class carries the exit code
the command line ends with, and `explain(step)` gives the paragraph a user reads when it stopped a
step of a run, so callers (the CLI, an orchestrator, the runner's translator) decide by
`exit_code` and `explain`, never by listing types:

    BsgError                     exit 1
      UserError                  exit 2   something the user must fix (a setting, the api key)
        ConfigError                       a setting: names it, where it was typed, how to fix it
        ColumnDocsError                   sql/columns.yml (analyst/exceptions.py)
      RunFailed                  exit 1   the API or the destination failed; the next run resumes
        ChecksFailed             exit 3   an error-severity data-quality check failed (--strict)
        ApiError, ApiUnavailable, ...     api/exceptions.py; AuthError is a UserError too (exit 2)
        PublishFailed                     load/exceptions.py
        SqlModelError                     analyst/exceptions.py
      RecordError                         contract/exceptions.py: never escapes a run (it becomes
                                          a rejected_records row)

Each layer declares its own errors beside its code and derives them from these.
"""

from __future__ import annotations

from typing import Any, Optional

from bsg_campaigns import settings as defaults

# The config section of every setting: [sources.bsg] / SOURCES__BSG__*.
SECTION = f"sources.{defaults.SOURCE_NAME}"


class BsgError(Exception):
    """Base of every error the connector raises on purpose."""

    exit_code = 1

    def explain(self, step: str) -> str:
        """What the user reads when this error stopped `step` of a run ("extract", "load", ... or
        "the run"). Our messages are written for the user already; a class whose text needs the
        context of a run (what was committed, what to check) says so here."""
        return str(self)


class UserError(BsgError):
    """Something the user must fix (configuration, credentials): exit code 2."""

    exit_code = 2


class RunFailed(BsgError):
    """The API or the destination failed; the state did not advance, the next run resumes."""

    exit_code = 1


class ConfigError(UserError, ValueError):
    """A setting the user must fix; `setting` is its name under [sources.bsg]."""

    def __init__(self, setting: str, problem: str, section: str = SECTION, origin: Optional[str] = None,
                 fix: Optional[str] = None) -> None:
        self.setting, self.problem, self.section, self.fix = setting, problem, section, fix
        if fix is None:
            env = f"{section}.{setting}".upper().replace(".", "__")
            toml = "secrets.toml" if setting in defaults.SECRET_SETTINGS else "config.toml"
            fix = f"Fix `{setting}` under [{section}] in .dlt/{toml} (or set {env})."
        if origin:
            problem = f"{problem.rstrip('.')} (set in {origin})."
        super().__init__(f"{problem} {fix}")


def error_for(exit_code: int, message: str) -> BsgError:
    """`message` as the error a caller catches: UserError for exit code 2, else RunFailed."""
    return UserError(message) if exit_code == UserError.exit_code else RunFailed(message)


class ChecksFailed(RunFailed):
    """`build_models_and_checks(strict=True)`: an error-severity data-quality check failed. The
    views were built; `result` holds every check's outcome."""

    exit_code = 3

    def __init__(self, result: Any) -> None:  # app.library.ModelsAndChecks (typed there: no cycle)
        self.result = result
        super().__init__(result.checks.to_text())
