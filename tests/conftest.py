"""Shared pytest fixtures: real SMTP servers on 127.0.0.1 (see smtp_servers.py).

Fixtures
--------
``smtp_ca`` (session)
    A :class:`trustme.CA`; every TLS server fixture issues its certificate
    from it, so ``server.ca_file`` is the same CA for all of them.
``smtp_ca_file`` (session)
    Path (``str``) of ``smtp_ca``'s PEM certificate.
``smtp_sink``
    A started :class:`~smtp_servers.Sink` (plain, no STARTTLS, no AUTH).
``smtp_starttls``
    A started :class:`~smtp_servers.StartTLSServer` (STARTTLS + AUTH
    required, credentials ``server.username`` / ``server.password``).
``smtp_starttls_untrusted``
    A started :class:`~smtp_servers.UntrustedStartTLSServer`: its
    ``ca_file`` is ``smtp_ca`` but the certificate is from another CA.
``smtp_ssl``
    A started :class:`~smtp_servers.SMTPSServer` (implicit TLS + AUTH).
``smtp_scripted``
    Factory: ``smtp_scripted(**kwargs)`` returns a started
    :class:`~smtp_servers.ScriptedServer` (``ca`` defaults to ``smtp_ca``);
    call it several times for several servers.  All are stopped at teardown.
``hand_rolled``
    Factory: ``hand_rolled(**kwargs)`` returns a started
    :class:`~smtp_servers.HandRolled` (slow replies, refused or deferred recipients,
    odd EHLO replies); stopped at teardown.
``sleeps``
    A :class:`~helpers.Sleeps`: an injected ``sleep`` that records and never waits.
``outbox``, ``env``
    Where the program under test writes its reports, and a clean environment naming it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import trustme

# Programs the tests start measure their own coverage (pyproject: patch = subprocess); a child
# started in another folder must still write its data where the run combines it.
os.environ.setdefault("COVERAGE_FILE", str(Path(__file__).resolve().parent.parent / ".coverage"))

# tests/ is not a package; make "import smtp_servers" work in any import mode.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from helpers import Sleeps, clean_env  # noqa: E402
from smtp_servers import (  # noqa: E402
    HandRolled,
    ScriptedServer,
    Sink,
    SMTPSServer,
    StartTLSServer,
    UntrustedStartTLSServer,
)


@pytest.fixture(scope="session")
def smtp_ca() -> trustme.CA:
    """Session-wide test CA for all TLS SMTP servers."""
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_ca_file(smtp_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """PEM file of :func:`smtp_ca`, for clients that should trust it."""
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    smtp_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    """Plain SMTP server recording every message."""
    with Sink() as server:
        yield server


@pytest.fixture
def smtp_starttls(smtp_ca: trustme.CA) -> Iterator[StartTLSServer]:
    """STARTTLS + AUTH-required server, certificate from :func:`smtp_ca`."""
    with StartTLSServer(smtp_ca) as server:
        yield server


@pytest.fixture
def smtp_starttls_untrusted(smtp_ca: trustme.CA) -> Iterator[UntrustedStartTLSServer]:
    """STARTTLS server whose certificate does NOT chain to its ``ca_file``."""
    with UntrustedStartTLSServer(smtp_ca) as server:
        yield server


@pytest.fixture
def smtp_ssl(smtp_ca: trustme.CA) -> Iterator[SMTPSServer]:
    """Implicit-TLS (SMTPS) + AUTH-required server, certificate from :func:`smtp_ca`."""
    with SMTPSServer(smtp_ca) as server:
        yield server


@pytest.fixture
def smtp_scripted(smtp_ca: trustme.CA) -> Iterator[Callable[..., ScriptedServer]]:
    """Factory for started :class:`ScriptedServer` instances (keyword args)."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> ScriptedServer:
            kwargs.setdefault("ca", smtp_ca)
            return stack.enter_context(ScriptedServer(**kwargs))

        yield make


@pytest.fixture
def hand_rolled() -> Iterator[Callable[..., HandRolled]]:
    """Factory for started :class:`HandRolled` servers (keyword args)."""
    with ExitStack() as stack:

        def make(*args: Any, **kwargs: Any) -> HandRolled:
            return stack.enter_context(HandRolled(*args, **kwargs))

        yield make


@pytest.fixture
def sleeps() -> Sleeps:
    """An injected ``sleep`` that records how long it was asked to wait."""
    return Sleeps()


# --- the real program, writing its reports to an outbox -------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """Where the program under test writes its reports (made when the first one is written)."""
    return tmp_path / "outbox"


@pytest.fixture
def env(outbox: Path) -> dict[str, str]:
    """A clean environment (no LOGNOTIFY_* from the developer's) with the outbox set."""
    return clean_env(LOGNOTIFY_OUTBOX=str(outbox))


# --- the test Kubernetes API server (see kube_api.py) ---------------------------------------


@pytest.fixture
def kube() -> Iterator[Any]:
    """A started :class:`~kube_api.KubeAPI` on 127.0.0.1 (the real client talks to it)."""
    from kube_api import KubeAPI

    with KubeAPI() as api:
        yield api
