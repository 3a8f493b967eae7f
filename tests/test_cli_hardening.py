"""Bad input and secrets, through the real program: nothing lost, nothing leaked, nothing hidden.

Malformed settings are tested in-process in test_cli.py (one line, exit 2, nothing started).
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from helpers import (
    PYTHON,
    attachment,
    clean_env,
    html_body,
    outbox_messages,
    read_until,
    run,
    start,
    text_body,
)

TWO_MIB = 2 * 1024 * 1024


def only_message(outbox: Path) -> tuple[bytes, object]:
    (path,) = list(outbox.glob("*.eml"))
    raw = path.read_bytes()
    (message,) = outbox_messages(outbox)
    return raw, message


# --- bad input (case 8, 10) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "job",
    [
        "import os; os.write(1, b'x' * 5_000_000); raise SystemExit(1)",  # one 5 MB line
        "import os; os.write(1, bytes(range(256)) * 20000 + b'\\x00\\xff\\xc3(' * 1000)\n"
        "raise SystemExit(1)",
        "import os\nfor i in range(0, 101): os.write(1, b'\\rprogress %3d%%' % i)\n"
        "os.write(1, b'\\n'); raise SystemExit(1)",
    ],
    ids=["5MB-line", "binary-and-NUL", "progress-bar"],
)
def test_odd_output_passes_through_exactly_and_gives_a_readable_report(
    job: str, env: dict[str, str], outbox: Path
) -> None:
    bare = subprocess.run([PYTHON, "-c", job], capture_output=True, env=env, check=False)
    done = run(["--", PYTHON, "-c", job], env)
    assert done.returncode == 1
    assert done.stdout == bare.stdout
    raw, message = only_message(outbox)
    assert len(raw) < TWO_MIB
    text = text_body(message)  # type: ignore[arg-type]
    assert "\x00" not in text
    assert text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text)
    _, log = attachment(message)  # type: ignore[arg-type, misc]
    assert log.startswith(bare.stdout[:1000])
    assert log.endswith(bare.stdout[-1000:])


def test_a_progress_bar_reads_as_its_last_state(env: dict[str, str], outbox: Path) -> None:
    job = (
        "import os\nfor i in (0, 50, 100): os.write(1, b'\\rprogress %d%%' % i)\n"
        "os.write(1, b'\\n')\nraise SystemExit(1)"
    )
    run(["--", PYTHON, "-c", job], env)
    _, message = only_message(outbox)
    # the line as a terminal shows it, with its number and stream mark (the redesign's gutter)
    assert "\n1  | progress 100%\n" in text_body(message)  # type: ignore[arg-type]


def test_html_in_the_output_is_shown_as_text(env: dict[str, str], outbox: Path) -> None:
    run(
        ["--", "sh", "-c", "echo '<script>alert(1)</script><img src=x onerror=alert(2)>'; exit 1"],
        env,
    )
    _, message = only_message(outbox)
    html = html_body(message)  # type: ignore[arg-type]
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html


# --- broken templates (case 11) ------------------------------------------------------------


def test_a_broken_template_dir_still_sends_the_built_in_report(
    tmp_path: Path, env: dict[str, str], outbox: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    # it compiles (so the job was started), and fails only as it renders
    (templates / "body.txt.j2").write_text("{{ job.no_such_field.deeper }}")
    (templates / "subject.txt.j2").write_text("custom {{ job }}")
    done = run(["--template-dir", str(templates), "--job-name", "etl", "--", "false"], env)
    assert done.returncode == 1
    _, message = only_message(outbox)
    assert message["Subject"] == "custom etl"  # type: ignore[index]
    text = text_body(message)  # type: ignore[arg-type]
    assert text.startswith("FAILED etl: exited with status 1\n")  # the built-in body's words
    assert "body.txt.j2: UndefinedError" in text
    assert "no_such_field" in text


def test_a_template_that_cannot_compile_is_a_configuration_error_before_the_job(
    tmp_path: Path, env: dict[str, str], outbox: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "body.html.j2").write_text("<p>\n{{ job | no_such_filter }}</p>")
    marker = tmp_path / "ran"
    done = run(["--template-dir", str(templates), "--", "touch", str(marker)], env)
    assert done.returncode == 2
    assert not marker.exists()
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("lognotify: ")
    assert "body.html.j2: line 2" in line
    assert "no_such_filter" in line
    subject = run(["--subject", "{{ nope", "--", "touch", str(marker)], env)
    assert subject.returncode == 2
    assert not marker.exists()
    assert "LOGNOTIFY_SUBJECT" in subject.stderr.decode()
    assert "line 1" in subject.stderr.decode()


# --- secrets (case 13) ---------------------------------------------------------------------

ENV_SECRET = "env-secret-value-7f3a9"
URL_PASSWORD = "url-pass-0b1c2d"
PATTERN_MATCH = "tok_live_5e6f7a8b"


def assert_nowhere(raw: bytes, message: object, secrets: list[str]) -> None:
    """Neither the secret, nor its base64 form (at any alignment), is in the message."""
    decoded = [text_body(message), html_body(message), str(message["Subject"])]  # type: ignore[arg-type, index]
    found = attachment(message)  # type: ignore[arg-type]
    log = found[1] if found else b""
    for secret in secrets:
        for offset in range(3):
            padded = b"\x00" * offset + secret.encode()
            encoded = base64.b64encode(padded)[4 if offset else 0 :][:-4]
            assert encoded not in raw, f"base64 of {secret} in the raw message"
        assert secret.encode() not in raw
        assert secret.encode() not in log
        for text in decoded:
            assert secret not in text


def test_planted_secrets_are_redacted_everywhere(env: dict[str, str], outbox: Path) -> None:
    env["DEPLOY_API_KEY"] = ENV_SECRET
    env["LOGNOTIFY_REDACT"] = r"tok_live_[0-9a-f]+"
    job = (
        f"echo 'key {ENV_SECRET}'; echo 'db postgres://etl:{URL_PASSWORD}@db:5432/app' >&2;"
        f" echo 'stripe {PATTERN_MATCH}'; exit 1"
    )
    done = run(["--job-name", f"etl-{ENV_SECRET}", "--", "sh", "-c", job], env)
    assert done.returncode == 1
    # the live passthrough is not altered
    assert ENV_SECRET.encode() in done.stdout
    assert URL_PASSWORD.encode() in done.stderr
    raw, message = only_message(outbox)
    assert_nowhere(raw, message, [ENV_SECRET, URL_PASSWORD, PATTERN_MATCH])
    text = text_body(message)  # type: ignore[arg-type]
    assert "key [REDACTED]" in text
    assert "postgres://etl:[REDACTED]@db:5432/app" in text
    assert "stripe [REDACTED]" in text
    assert "[REDACTED]" in message["Subject"]  # type: ignore[index]


def test_a_secret_in_the_command_line_is_redacted(env: dict[str, str], outbox: Path) -> None:
    run(["--", "sh", "-c", "exit 1", "postgres://u:cmdline-pass-77@db/x"], env)
    raw, message = only_message(outbox)
    assert_nowhere(raw, message, ["cmdline-pass-77"])


def test_a_secret_split_across_two_reads_is_redacted(env: dict[str, str], outbox: Path) -> None:
    env["SERVICE_TOKEN"] = ENV_SECRET
    half = len(ENV_SECRET) // 2
    job = (
        "import os, sys\n"
        f"os.write(1, b'token={ENV_SECRET[:half]}')\n"
        "sys.stdin.readline()\n"  # the second half only once the first has come through
        f"os.write(1, b'{ENV_SECRET[half:]} end\\n')\n"
        "raise SystemExit(1)\n"
    )
    proc = start(["--", PYTHON, "-c", job], env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    read_until(proc.stdout, f"token={ENV_SECRET[:half]}")
    proc.communicate(b"go on\n", timeout=30)
    assert proc.returncode == 1
    raw, message = only_message(outbox)
    assert_nowhere(raw, message, [ENV_SECRET])
    assert "token=[REDACTED] end" in text_body(message)  # type: ignore[arg-type]


@pytest.mark.parametrize("shift", [-10, -5, 0, 5, 10])
def test_a_secret_cut_by_the_head_tail_boundary_is_redacted(
    shift: int, env: dict[str, str], outbox: Path
) -> None:
    env["SERVICE_TOKEN"] = ENV_SECRET
    # max_bytes 4000: the head keeps 1000 bytes; the secret straddles byte 1000, then
    # enough output follows to push the rest of it out of the tail.
    before = 1000 - len(ENV_SECRET) // 2 + shift
    job = (
        "import os\n"
        f"os.write(1, b'a' * {before} + b'{ENV_SECRET}' + b'\\n' + b'filler line\\n' * 2000)\n"
        "raise SystemExit(1)\n"
    )
    run(["--max-bytes", "4000", "--", PYTHON, "-c", job], env)
    raw, message = only_message(outbox)
    assert_nowhere(raw, message, [ENV_SECRET, ENV_SECRET[:10], ENV_SECRET[-10:]])


def test_the_smtp_password_never_leaves_in_a_report(tmp_path: Path, smtp_starttls: object) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(f"{smtp_starttls.password}\n")  # type: ignore[attr-defined]
    env = clean_env(
        LOGNOTIFY_SMTP_HOST="127.0.0.1",
        LOGNOTIFY_SMTP_PORT=str(smtp_starttls.port),  # type: ignore[attr-defined]
        LOGNOTIFY_SMTP_USER=smtp_starttls.username,  # type: ignore[attr-defined]
        LOGNOTIFY_SMTP_PASSWORD_FILE=str(password_file),
        LOGNOTIFY_SMTP_CA_FILE=smtp_starttls.ca_file,  # type: ignore[attr-defined]
        LOGNOTIFY_TO="ops@example.com",
        LOGNOTIFY_FROM="lognotify@example.com",  # no warning about a From without a domain
    )
    job = f"echo 'connecting with {smtp_starttls.password}'; exit 1"  # type: ignore[attr-defined]
    done = run(["--", "sh", "-c", job], env)
    assert done.returncode == 1, done.stderr
    (delivery,) = smtp_starttls.wait_for_messages(1, timeout=10)  # type: ignore[attr-defined]
    assert delivery.auth_user == smtp_starttls.username  # type: ignore[attr-defined]
    assert_nowhere(delivery.raw, delivery.message, [smtp_starttls.password])  # type: ignore[attr-defined]
    assert smtp_starttls.password.encode() not in done.stderr  # type: ignore[attr-defined]
