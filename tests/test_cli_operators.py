"""What an operator, a cron user and a second local user see (issue "Defects found by trying
lognotify as a new user, an operator and an attacker would"), end to end."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    PYTHON,
    clean_env,
    lognotify_argv,
    mail_to,
    outbox_messages,
    own_lines,
    run,
    text_body,
)
from smtp_servers import Sink


def test_a_stalled_reader_of_stdout_never_stops_stderr(env: dict[str, str]) -> None:
    # stdout floods into a pipe nobody reads; a line on stderr every so often must still pass
    job = (
        "import os, sys\nfor n in range(40):\n    os.write(2, b'err %d\\n' % n)\n"
        "    try:\n        os.write(1, b'x' * 65536)\n    except BlockingIOError:\n        pass\n"
    )
    proc = subprocess.Popen(
        [*lognotify_argv(), "--", PYTHON, "-c", job],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 30
    while seen.count(b"err ") < 3 and time.monotonic() < deadline:  # stdout is never read here
        ready, _, _ = select.select([proc.stderr], [], [], deadline - time.monotonic())
        if ready:
            seen += os.read(proc.stderr.fileno(), 4096)
    proc.kill()
    proc.communicate()
    assert seen.count(b"err ") >= 3, "stderr was held up by the stalled stdout"


def test_the_command_gets_the_environment_byte_for_byte_without_the_smtp_password(
    tmp_path: Path,
) -> None:
    dump = tmp_path / "env"
    env = {
        "PATH": os.environ["PATH"],
        "WEIRD": "caf\udce9",
        "LOGNOTIFY_SMTP_PASSWORD": "s3cret",
        "LOGNOTIFY_SMTP_USER": "etl",
        "LOGNOTIFY_OUTBOX": str(tmp_path / "outbox"),
    }
    env_bytes = {k.encode(): v.encode("utf-8", "surrogateescape") for k, v in env.items()}
    # `env`, not Python: a Python job would add the coerced LC_CTYPE to its own environment
    subprocess.run(
        [*lognotify_argv(), "--", "sh", "-c", f"env -0 > {dump}"],
        env=env_bytes,
        capture_output=True,
        timeout=60,
        check=False,
    )
    got = dict(entry.split(b"=", 1) for entry in dump.read_bytes().split(b"\0") if entry)
    assert b"LOGNOTIFY_SMTP_PASSWORD" not in got
    assert got[b"WEIRD"] == b"caf\xe9"
    # no usable locale (a minimal image): Python's own LC_CTYPE coercion never reaches the job
    assert b"LC_CTYPE" not in got
    assert b"LC_ALL" not in got


def test_a_background_process_keeps_writing_after_the_command_ends(
    env: dict[str, str], tmp_path: Path
) -> None:
    done_file = tmp_path / "f"
    job = f"(sleep 1; echo late; echo ok > {done_file}) & echo early; exit 1"
    began = time.monotonic()
    proc = subprocess.run(
        [*lognotify_argv(), "--", "sh", "-c", job],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert b"early\n" in proc.stdout
    assert b"late\n" in proc.stdout
    assert done_file.read_text() == "ok\n"
    (message,) = outbox_messages(Path(env["LOGNOTIFY_OUTBOX"]))
    # the report's duration is the command's, not the leftover's
    assert float(time.monotonic() - began) >= 1.0
    assert "Duration:" in text_body(message)
    assert "1." not in text_body(message).split("Duration:")[1].split("\n")[0]


def test_control_characters_never_reach_a_header(
    env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    name = tmp_path / "name"
    name.write_bytes(b"etl\x00\x1b]0;owned\x07\x7fend\n")
    pod = "pod\x1b[31m\u202ename"
    run(["--", "false"], {**env, "LOGNOTIFY_JOB_NAME_FILE": str(name), "LOGNOTIFY_POD_NAME": pod})
    (message,) = outbox_messages(outbox)
    for header in ("Subject", "X-Lognotify-Job"):
        value = str(message[header])
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in value), (
            header,
            value,
        )


def test_user_templates_run_in_the_sandbox(
    env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    evil = (
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(tmp_path / "pwned") + "').read() }}"
    )
    run(["--subject", evil, "--", "false"], env)
    assert not (tmp_path / "pwned").exists()
    (message,) = outbox_messages(outbox)
    assert str(message["Subject"]).startswith("[lognotify] FAILED")  # it fell back, and said why
    assert "SecurityError" in text_body(message) or "UndefinedError" in text_body(message)


def test_test_email_tells_each_failed_attempt_as_it_happens(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there
    env = clean_env(
        LOGNOTIFY_SMTP_HOST="127.0.0.1",
        LOGNOTIFY_SMTP_PORT=str(port),
        LOGNOTIFY_SMTP_SECURITY="none",
        LOGNOTIFY_TO="ops@example.com",
        LOGNOTIFY_FROM="lognotify@example.com",
        LOGNOTIFY_DELIVERY_TIMEOUT="3",
        LOGNOTIFY_OUTBOX=str(tmp_path / "outbox"),
    )
    proc = subprocess.Popen([*lognotify_argv(), "--test-email"], env=env, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()  # arrives before delivery gives up
    assert first.startswith("lognotify: attempt 1 failed: connection refused")
    rest = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 1
    assert "could not send the report" in rest


def test_test_email_exits_1_when_a_custom_template_failed(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "body.txt.j2").write_text("{{ job.missing.deeper }}")
    with Sink() as sink:
        env = clean_env(
            **mail_to(sink),
            LOGNOTIFY_TEMPLATE_DIR=str(templates),
        )
        done = run(["--test-email"], env)
        assert len(sink.messages) == 1  # the built-in report still went out
    assert done.returncode == 1
    assert "body.txt.j2" in done.stderr.decode()


@pytest.mark.parametrize("command", [["--", "false"], ["--test-email"]], ids=["run", "test-email"])
@pytest.mark.parametrize(("sender", "warned"), [(None, True), ("ops@example.com", False)])
def test_a_sender_without_a_domain_is_warned_about_once(
    command: list[str], sender: str | None, warned: bool
) -> None:
    with Sink() as sink:
        done = run(command, clean_env(**mail_to(sink, sender=sender)))
        (delivery,) = sink.messages
    lines = [line for line in own_lines(done.stderr.decode()) if "has no domain" in line]
    expected = warned and "." not in delivery.mail_from.split("@")[-1]
    assert len(lines) == (1 if expected else 0)


def _can_unshare_uts() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--uts", "true"], capture_output=True, check=False
        )
    except OSError:
        return False
    return done.returncode == 0


@pytest.mark.skipif(not _can_unshare_uts(), reason="needs root and unshare (UTS, mount)")
def test_a_bare_host_name_with_a_fully_qualified_one_sends_from_that_and_warns_not(
    tmp_path: Path,
) -> None:
    # A host called "bare" whose resolver knows it as bare.corp.example.net (as /etc/hosts says
    # on many hosts): the default From uses the full name, which strict servers take.
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.1.2.3 bare.corp.example.net bare\n")
    script = 'hostname bare && mount --bind "$1" /etc/hosts && shift && exec "$@"'
    with Sink() as sink:
        env = clean_env(**mail_to(sink, sender=None))
        argv = ["unshare", "--mount", "--uts", "sh", "-c", script, "sh", str(hosts)]
        done = subprocess.run(
            [*argv, *lognotify_argv(), "--", "false"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        (delivery,) = sink.messages
    assert done.returncode == 1
    assert delivery.mail_from == "lognotify@bare.corp.example.net"
    assert delivery.message["From"] == "lognotify@bare.corp.example.net"
    assert not [line for line in own_lines(done.stderr.decode()) if "has no domain" in line]


def test_passthrough_off_prints_nothing_when_the_report_was_sent() -> None:
    with Sink() as sink:
        env = clean_env(**mail_to(sink))
        done = run(
            ["--passthrough", "off", "--", "sh", "-c", "echo out; echo err >&2; exit 4"], env
        )
        quiet_success = run(["--passthrough", "off", "--", "sh", "-c", "echo fine"], env)
        (delivery,) = sink.messages
    assert done.returncode == 4
    assert done.stdout == b""
    assert done.stderr == b""
    assert "out" in text_body(delivery.message)
    assert "err" in text_body(delivery.message)
    assert quiet_success.returncode == 0
    assert quiet_success.stdout == b""
    assert quiet_success.stderr == b""


def test_passthrough_off_still_prints_a_report_no_server_took(tmp_path: Path) -> None:
    env = clean_env(
        LOGNOTIFY_SMTP_HOST="127.0.0.1",
        LOGNOTIFY_SMTP_PORT="1",
        LOGNOTIFY_SMTP_SECURITY="none",
        LOGNOTIFY_TO="ops@example.com",
        LOGNOTIFY_FROM="lognotify@example.com",
        LOGNOTIFY_DELIVERY_TIMEOUT="1",
        LOGNOTIFY_OUTBOX=str(tmp_path / "outbox"),
    )
    done = run(["--passthrough", "off", "--", "sh", "-c", "echo out; exit 4"], env)
    err = done.stderr.decode()
    assert done.returncode == 4
    assert done.stdout == b""
    assert "could not send the report" in err
    assert "lognotify: report follows" in err


def test_dry_run_shows_what_a_person_reads_and_mime_on_request(env: dict[str, str]) -> None:
    shown = run(
        ["--dry-run", "--", "sh", "-c", "echo 'café ERROR boom'; exit 3"], env
    ).stdout.decode()
    assert "Subject: [lognotify] FAILED sh (exit 3)" in shown
    assert "café ERROR boom" in shown  # readable, not quoted-printable
    assert "Content-Transfer-Encoding" not in shown
    assert "[HTML part: " in shown
    assert "[attachment: " in shown
    mime = run(["--dry-run=mime", "--", "sh", "-c", "exit 3"], env).stdout.decode()
    assert "Content-Type: multipart/" in mime
    assert "MIME-Version: 1.0" in mime


def test_dry_run_with_a_bad_value_is_a_configuration_error(env: dict[str, str]) -> None:
    done = run(["--dry-run=html", "--", "true"], env)
    assert done.returncode == 2
    assert "--dry-run" in done.stderr.decode()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as two users")
def test_another_users_default_outbox_is_never_shared(tmp_path: Path) -> None:
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    shared_tmp.chmod(0o1777)
    # a hostile user makes a world-writable folder where user 12345's outbox would go
    evil = shared_tmp / "lognotify-outbox-12345"
    evil.mkdir()
    os.chown(evil, 23456, 23456)
    evil.chmod(0o777)

    def as_user(uid: int) -> subprocess.CompletedProcess[bytes]:
        env = {"PATH": os.environ["PATH"], "TMPDIR": str(shared_tmp), "HOME": str(shared_tmp)}
        return subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                *lognotify_argv(),
                "--",
                "false",
            ],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )

    first, second = as_user(12345), as_user(12346)
    assert first.returncode == second.returncode == 1
    assert list(evil.iterdir()) == []  # never written into
    for done, uid in ((first, 12345), (second, 12346)):
        line = own_lines(done.stderr.decode())[-1]
        path = Path(line.rsplit(" ", 1)[1])
        assert path.exists()
        assert path.stat().st_uid == uid
        assert (path.parent.stat().st_mode & 0o077) == 0


def test_a_umask_of_000_leaves_nothing_others_can_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**clean_env(), "HOME": str(home), "TMPDIR": str(tmp_path)}
    env.pop("XDG_CACHE_HOME", None)
    subprocess.run(
        ["sh", "-c", 'umask 000; exec "$@"', "sh", *lognotify_argv(), "--", "false"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    made = [
        *home.rglob("*"),
        *tmp_path.glob("lognotify-outbox-*"),
        *tmp_path.glob("lognotify-outbox-*/*"),
    ]
    assert made, "nothing was made"
    for path in made:
        want = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == want, path
    assert sys.executable  # the venv's python ran it


def test_an_outbox_that_cannot_be_used_is_named_with_why_and_the_report_lands_anyway(
    tmp_path: Path,
) -> None:
    taken = tmp_path / "outbox"
    taken.write_text("a file, not a folder")
    done = run(["--", "false"], clean_env(LOGNOTIFY_OUTBOX=str(taken)))
    assert done.returncode == 1
    (line,) = own_lines(done.stderr.decode())
    saved = line.split("report written to ", 1)[1].split(" (", 1)[0]
    assert line.endswith(f"(the outbox {taken} was passed over: not a folder (or a symbolic link))")
    assert Path(saved).is_file()
    assert taken.read_text() == "a file, not a folder"
