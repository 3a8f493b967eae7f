"""Settings: keyword or flag, then environment (or its _FILE twin), then default; bad values
named. The parsers themselves are tested in test_settings_parsers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lognotify.errors import ConfigError
from lognotify.settings import ENV_NAMES, keywords_for, load_settings, unknown_env
from lognotify.settings.model import KubernetesSettings, Settings
from lognotify.settings.table import SPECS, flag_arguments


def test_defaults_are_the_contracts() -> None:
    settings = load_settings({}, {})
    assert settings.to == ()
    assert settings.sender.startswith("lognotify@")
    assert settings.smtp.host is None
    assert (settings.smtp.port, settings.smtp.security) == (587, "starttls")
    assert (settings.smtp.timeout, settings.smtp.delivery_timeout) == (10.0, 60.0)
    assert settings.notify_on == "failure"
    assert settings.max_bytes == 1048576
    assert settings.timeout is None
    assert settings.kill_grace == 10.0


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_the_default_port_follows_the_security(security: str, port: int) -> None:
    assert load_settings({}, {"LOGNOTIFY_SMTP_SECURITY": security}).smtp.port == port


def test_keyword_beats_environment_beats_default() -> None:
    env = {"LOGNOTIFY_JOB_NAME": "from-env", "LOGNOTIFY_SMTP_PORT": "2525"}
    assert load_settings({}, env).job_name == "from-env"
    assert load_settings({"job_name": "from-keyword"}, env).job_name == "from-keyword"
    assert load_settings({"smtp_port": 25}, env).smtp.port == 25


def test_a_file_variable_holds_the_value_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-pass\n")
    recipients = tmp_path / "to"
    recipients.write_text("ops@example.com\r\n")
    environ = {
        "LOGNOTIFY_SMTP_USER": "alice",
        "LOGNOTIFY_SMTP_PASSWORD_FILE": str(secret),
        "LOGNOTIFY_TO_FILE": str(recipients),
    }
    settings = load_settings({}, environ)
    assert settings.smtp.password == "s3cret-pass"
    assert settings.to == ("ops@example.com",)
    assert "s3cret-pass" not in repr(settings)


def test_a_value_and_its_file_twin_together_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("x")
    with pytest.raises(ConfigError, match="LOGNOTIFY_JOB_NAME and LOGNOTIFY_JOB_NAME_FILE"):
        load_settings(
            {}, {"LOGNOTIFY_JOB_NAME": "a", "LOGNOTIFY_JOB_NAME_FILE": str(tmp_path / "v")}
        )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOGNOTIFY_SMTP_PORT", "abc", "port number"),
        ("LOGNOTIFY_SMTP_PORT", "70000", "port number"),
        ("LOGNOTIFY_SMTP_PORT", "\u00b2", "port number"),  # a digit to str.isdigit(), not to int()
        ("LOGNOTIFY_SMTP_PORT", "\u0662\u0665", "port number"),  # Arabic-Indic 25
        ("LOGNOTIFY_SMTP_TIMEOUT", "\u00b2", "duration"),
        ("LOGNOTIFY_MAX_BYTES", "\u00b2K", "size"),
        ("LOGNOTIFY_SMTP_SECURITY", "tls", "starttls, ssl, none"),
        ("LOGNOTIFY_NOTIFY_ON", "sometimes", "failure, error, always, never"),
        ("LOGNOTIFY_SMTP_TIMEOUT", "soon", "duration"),
        ("LOGNOTIFY_SMTP_TIMEOUT", "0", "above 0"),
        ("LOGNOTIFY_DELIVERY_TIMEOUT", "-5", "duration"),
        ("LOGNOTIFY_TIMEOUT", "1d", "duration"),
        ("LOGNOTIFY_KILL_GRACE", "x", "duration"),
        ("LOGNOTIFY_MAX_BYTES", "lots", "size"),
        ("LOGNOTIFY_TO", "not an address", "email address"),
        ("LOGNOTIFY_TO", "ops@example.com\r\nBcc: evil@example.com", "line breaks"),
        ("LOGNOTIFY_FROM", "me@example.com\nX-Evil: 1", "line breaks"),
        ("LOGNOTIFY_REDACT", "([unclosed", "regular expression"),
        ("LOGNOTIFY_SMTP_CA_FILE", "/no/such/ca.pem", "readable file"),
        ("LOGNOTIFY_TEMPLATE_DIR", "/no/such/dir", "directory"),
        ("LOGNOTIFY_SMTP_PASSWORD_FILE", "/no/such/file", "cannot read"),
    ],
)
def test_a_malformed_value_is_an_error_naming_the_variable(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}:")
    assert expected in message
    assert "\n" not in message


def test_flags_are_named_by_their_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--smtp-port:"):
        load_settings({"smtp_port": "x"}, {}, origin="flag")


def test_credentials_are_refused_without_encryption() -> None:
    env = {
        "LOGNOTIFY_SMTP_USER": "u",
        "LOGNOTIFY_SMTP_PASSWORD": "hunter22",
        "LOGNOTIFY_SMTP_SECURITY": "none",
    }
    with pytest.raises(ConfigError, match="never sent unencrypted") as caught:
        load_settings({}, env)
    assert "hunter22" not in str(caught.value)


def test_an_smtp_host_needs_recipients_and_the_error_names_where_they_go() -> None:
    host = {"LOGNOTIFY_SMTP_HOST": "smtp.example.com"}
    with pytest.raises(ConfigError, match=r"^to \(or LOGNOTIFY_TO\): no recipients"):
        load_settings({}, host)
    with pytest.raises(ConfigError, match=r"^--to \(or LOGNOTIFY_TO\): no recipients"):
        load_settings({}, host, origin="flag")
    with pytest.raises(ConfigError, match=r"^to: no recipients"):
        load_settings({"to": ""}, host)  # given, and empty: the keyword is to blame
    with pytest.raises(ConfigError, match=r"^LOGNOTIFY_TO: no recipients"):
        load_settings({}, {**host, "LOGNOTIFY_TO": " "})


def test_paths_may_be_given_as_path_objects(tmp_path: Path) -> None:
    import trustme

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    settings = load_settings(
        {"outbox": tmp_path / "out", "template_dir": tmp_path, "smtp_ca_file": ca}, {}
    )
    assert settings.outbox == str(tmp_path / "out")
    assert settings.template_dir == str(tmp_path)
    assert settings.smtp.ca_file == str(ca)


def test_durations_sizes_and_lists_are_read_the_way_people_write_them() -> None:
    settings = load_settings(
        {},
        {
            "LOGNOTIFY_TIMEOUT": "5m",
            "LOGNOTIFY_KILL_GRACE": "0",
            "LOGNOTIFY_MAX_BYTES": "512K",
            "LOGNOTIFY_TO": "a@example.com, Ops Team <ops@example.com>",
            "LOGNOTIFY_REDACT": "tok_[a-z]+\nkey=\\w+",
        },
    )
    assert settings.timeout == 300
    assert settings.kill_grace == 0
    assert settings.max_bytes == 512 * 1024
    assert settings.to == ("a@example.com", "Ops Team <ops@example.com>")
    assert settings.redact == ("tok_[a-z]+", "key=\\w+")


def test_empty_values_count_as_unset() -> None:
    assert load_settings({}, {"LOGNOTIFY_SMTP_PORT": "", "LOGNOTIFY_JOB_NAME": ""}).smtp.port == 587


def test_an_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="smtp_hots"):
        load_settings({"smtp_hots": "x"}, {})


def test_unknown_variables_are_pointed_out_with_a_suggestion() -> None:
    warnings = unknown_env({"LOGNOTIFY_SMTP_HOTS": "x", "LOGNOTIFY_TO": "a@b.c", "PATH": "/bin"})
    assert warnings == [
        "unknown setting LOGNOTIFY_SMTP_HOTS is ignored (did you mean LOGNOTIFY_SMTP_HOST?)"
    ]


def test_every_contract_variable_is_known() -> None:
    contract = [
        *("TO", "FROM", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD"),
        *("SMTP_CA_FILE", "SMTP_TIMEOUT", "DELIVERY_TIMEOUT", "NOTIFY_ON", "JOB_NAME", "SUBJECT"),
        *("TEMPLATE_DIR", "MAX_BYTES", "OUTBOX", "REDACT", "TIMEOUT", "KILL_GRACE", "POD_NAME"),
        *("POD_NAMESPACE", "NODE_NAME", "K8S_JOB_NAME"),
        # the contract's additions
        *("K8S_FAILURES", "K8S_BACKOFF_LIMIT", "K8S_FINAL_EXIT_CODES", "NOTIFY_ATTEMPTS"),
        *("TERMINATION_LOG", "PASSTHROUGH", "CAPTURE", "WATCH_NAMESPACES", "WATCH_SELECTOR"),
        "WATCH_STUCK_AFTER",
    ]
    for name in contract:
        assert f"LOGNOTIFY_{name}" in ENV_NAMES
        assert f"LOGNOTIFY_{name}_FILE" in ENV_NAMES


def test_a_ca_file_without_a_certificate_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    with pytest.raises(ConfigError, match=r"LOGNOTIFY_SMTP_CA_FILE: .* no usable PEM certificate"):
        load_settings({}, {"LOGNOTIFY_SMTP_CA_FILE": str(not_pem)})


def test_a_file_variable_whose_file_is_empty_counts_as_unset(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert load_settings({}, {"LOGNOTIFY_JOB_NAME_FILE": str(empty)}).job_name is None


def test_the_default_sender_is_made_from_the_host_name_and_known_as_such() -> None:
    import os

    default = load_settings({}, {})
    assert default.sender == f"lognotify@{os.uname().nodename}"
    assert default.sender_given is False
    given = load_settings({}, {"LOGNOTIFY_FROM": "etl@example.com"})
    assert (given.sender, given.sender_given) == ("etl@example.com", True)


def test_kubernetes_metadata_and_attempt_numbers_come_from_the_downward_api() -> None:
    environ = {
        "LOGNOTIFY_POD_NAME": " etl-29001230-x7k2p ",
        "LOGNOTIFY_POD_NAMESPACE": "batch",
        "LOGNOTIFY_NODE_NAME": "node-3",
        "LOGNOTIFY_K8S_JOB_NAME": "etl-29001230",
        "LOGNOTIFY_K8S_FAILURES": "1",
        "LOGNOTIFY_K8S_BACKOFF_LIMIT": "2",
        "LOGNOTIFY_K8S_FINAL_EXIT_CODES": "2, 124",
    }
    assert load_settings({}, environ).kubernetes == KubernetesSettings(
        pod="etl-29001230-x7k2p",
        namespace="batch",
        node="node-3",
        job="etl-29001230",
        failures=1,
        backoff_limit=2,
        final_exit_codes=frozenset({2, 124}),
    )
    assert load_settings({}, {}).kubernetes == KubernetesSettings()


def test_an_empty_attempt_count_from_the_downward_api_means_unknown() -> None:
    # the Downward API gives an empty value when the annotation is missing
    kubernetes = load_settings({}, {"LOGNOTIFY_K8S_FAILURES": ""}).kubernetes
    assert kubernetes.failures is None


def test_kubernetes_metadata_is_not_a_keyword() -> None:
    with pytest.raises(TypeError, match="kubernetes_pod"):
        load_settings({"kubernetes_pod": "p"}, {}, scopes=("all", "library"))


def test_an_empty_termination_log_means_never_and_the_default_is_kubernetes_own() -> None:
    assert load_settings({}, {}).termination_log == "/dev/termination-log"
    assert load_settings({}, {"LOGNOTIFY_TERMINATION_LOG": ""}).termination_log == ""


def test_the_values_of_secret_looking_variables_are_kept_to_redact_and_never_shown() -> None:
    environ = {
        "DB_PASSWORD": "pw-1",
        "github_token": "gh-2",
        "AUTH_HEADER": "au-3",
        "PATH": "/bin",
        "MY_SECRET_KEY": "sk-4",
    }
    settings = load_settings({}, environ)
    assert sorted(settings.secrets) == ["au-3", "gh-2", "pw-1", "sk-4"]
    assert "pw-1" not in repr(settings)


def test_each_entry_takes_only_its_own_settings() -> None:
    assert {"timeout", "kill_grace", "passthrough"} <= keywords_for("cli")
    assert "capture" in keywords_for("library")
    assert "timeout" not in keywords_for("all", "library")
    with pytest.raises(TypeError, match="timeout"):
        load_settings({"timeout": 5}, {}, scopes=("all", "library", "env"))
    assert load_settings({"capture": "output"}, {}).capture == "output"


def test_every_setting_has_its_variable_and_a_flag_unless_it_is_for_the_library_or_pods() -> None:
    for spec in SPECS:
        assert spec.env.startswith("LOGNOTIFY_")
        if spec.scope in ("all", "cli", "watch") and spec.keyword != "redact_builtin":
            assert spec.flag is not None, spec.keyword
    flags = {flag: arguments["dest"] for flag, _, arguments in flag_arguments("all", "cli")}
    assert flags["--smtp-password-file"] == "smtp_password"
    assert flags["--from"] == "sender"
    assert "--namespace" not in flags  # the watcher's own


def test_settings_are_read_only() -> None:
    settings = load_settings({}, {})
    with pytest.raises(AttributeError):
        settings.to = ("x@example.com",)  # type: ignore[misc]
    assert isinstance(settings, Settings)
