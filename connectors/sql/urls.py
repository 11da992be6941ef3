"""SQLAlchemy URLs as the sql connector reads and shows them: default drivers, masked passwords."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url

# plain scheme → the driver okrsync installs with the extra (a named driver is kept)
_DEFAULT_DRIVER = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
EXTRAS |= {"snowflake": "snowflake", "bigquery": "bigquery"}


TLS_ARGS = ("postgresql", "mysql", "mariadb")  # where ca_bundle is applied


def to_url(text: str) -> URL:
    """Parse a SQLAlchemy URL; ``postgresql://`` means psycopg 3, ``mysql://`` PyMySQL."""
    scheme, sep, rest = text.partition("://")
    if sep and scheme in _DEFAULT_DRIVER:
        text = f"{_DEFAULT_DRIVER[scheme]}://{rest}"
    return make_url(text)


def shown(url: URL) -> str:
    """The URL as messages show it: the password masked, query options left out.

    Options may hold secrets too (``?password=``, ``?sslpassword=``, a
    Snowflake ``token``); the redactor cannot catch them once the scheme is
    rewritten, so they are never shown, only hinted at.
    """
    backend = url.get_backend_name()
    if _DEFAULT_DRIVER.get(backend) == url.drivername:
        # As the user most likely wrote it (postgresql://), so the redactor still
        # recognises a URL that is itself a secret (url: ${WAREHOUSE_URL}).
        url = url.set(drivername=backend)
    text = url.set(query={}).render_as_string(hide_password=True)
    return f"{text}?…" if url.query else text


_SECRET_OPTION = re.compile(r"pass|secret|token|key|cred", re.I)


def secrets_of(url: URL) -> list[str]:
    """The password and secret-looking query options, longest first: masked in database messages.

    Only options whose name looks secret: masking ``sslmode=require`` would
    garble "SSL connection is required".
    """
    values = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if _SECRET_OPTION.search(key):
            values += [value] if isinstance(value, str) else list(value)
    return sorted((v for v in values if len(v) >= 4), key=len, reverse=True)


def driver_hint(backend: str) -> str:
    """How to install the driver a backend needs: the extra okrsync ships, or a pointer."""
    extra = EXTRAS.get(backend)
    return (
        f"pip install 'okrsync[{extra}]'" if extra else f"install a SQLAlchemy driver for {backend}"
    )


__all__ = ["EXTRAS", "TLS_ARGS", "driver_hint", "secrets_of", "shown", "to_url"]
