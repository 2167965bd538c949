"""What talking to the API can raise."""

from __future__ import annotations

from typing import Optional

from bsg_campaigns.exceptions import RunFailed, UserError


class ApiError(RunFailed):
    """A non-retryable HTTP answer, or retries exhausted: the run failed at the API (exit 1).
    `status` is None for transport errors."""

    def __init__(self, message: str, status: Optional[int] = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    def explain(self, step: str) -> str:
        return (f"The BSG API failed during {step}: {self}. Nothing was committed for this run; the next run "
                "resumes from the last committed state.")


class AuthError(ApiError, UserError):
    """The api key was rejected (or the account may not do this): the user must fix config.
    Both an API answer and the user's to fix; the exit code is the user error's."""

    exit_code = 2

    def explain(self, step: str) -> str:
        return (f"The BSG API rejected the api key ({self}). Check `api_key` under [sources.bsg] in "
                ".dlt/secrets.toml (or SOURCES__BSG__API_KEY) and `base_url` (SOURCES__BSG__BASE_URL). "
                "Nothing was loaded and the incremental state did not move.")


class ClientError(ApiError):
    """A 4xx answer other than 401 (auth) and 429 (rate): the server refused this very request.
    Retrying it at once cannot help, and it says nothing about the API being down."""


class Forbidden(AuthError, ClientError):
    """403: the account may not do this. Fatal for a listing (exit 2); for one campaign's
    detail it is that campaign's problem (extract/fetch.py)."""


class NotJsonError(ApiError, ValueError):
    """A 200 whose body is still not JSON after every retry (a maintenance page, a cut body)."""


class ApiUnavailable(ApiError):
    """Too many consecutive campaigns could not be fetched: treat it as an outage, stop the run."""
