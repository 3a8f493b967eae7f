"""The shapes of well-known secrets that redaction finds without being told: tokens, keys and
private key blocks, as the common secret scanners know them, and a URL's password.

RE2 patterns over bytes (``redact`` compiles them); where a pattern has groups, only the
groups are redacted, so ``Authorization: Bearer`` stays readable.
"""

from __future__ import annotations

_KEY = rb"[\"']?\s*[:=]\s*[\"']?"  # between a key and its value: `k: v`, `k=v`, `"k": "v"`
_CREDENTIAL = rb"(?:(?:bearer|basic|token|negotiate|ntlm)\s+([^\s\"'<>,;]+)|([\w.~+/=-]{8,}))"

# Token shapes redacted unless ``builtin=False``, as RE2 patterns: only their groups where they
# have some. Each starts with a literal (no \b), which RE2 skips ahead to: 3 to 40 times faster.
BUILTIN_SHAPES: tuple[tuple[str, bytes], ...] = (
    # (Proxy-)Authorization, any case: the credential after Bearer/Basic/Token/..., or 8+ chars
    ("authorization", rb"(?i)authori[sz]ation" + _KEY + _CREDENTIAL),
    # `token: Bearer <credential>`, `access_token=bearer <credential>` and the like
    ("token-bearer", rb"(?i)token" + _KEY + rb"(?:bearer|token)\s+([^\s\"'<>,;]+)"),
    ("bearer", rb"(?i)bearer\s+([\w.~+/-]{16,}=*)"),  # Bearer <credential of 16+ characters>
    ("aws-access-key-id", rb"(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
    # AWS secret access keys (40 characters) after aws_secret_access_key, SecretAccessKey, ...
    ("aws-secret-access-key", rb"(?i)secret_?(?:access_?)?key" + _KEY + rb"([\w/+]{40})"),
    ("aws-session-token", rb"(?i)session_?token" + _KEY + rb"([\w/+=]{16,})"),  # AWS sessions
    # GitHub: ghp_ personal, gho_ OAuth, ghu_ user, ghs_ app, ghr_ refresh, github_pat_ fine-grained
    ("github", rb"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_\w{22,255})"),
    # GitLab: glpat-, gldt-, glrt-, glrtr-, glcbt-, glptt-, glft-, glimt-, glagent-, glsoat-, ...
    ("gitlab", rb"gl(?:pat|dt|rtr?|cbt|ptt|ft|imt|agent|soat|oas|ffct|wt)-[\w.-]{20,}"),
    ("gitlab-runner-registration", rb"GR1348941[\w-]{20,}"),  # GitLab runner registration
    ("slack", rb"xox[abeprs]-[A-Za-z0-9-]{10,}"),  # Slack: xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, ...
    # Slack webhooks: the path after hooks.slack.com/services/ (or workflows/, triggers/)
    ("slack-webhook", rb"hooks\.slack\.com/(?:services|workflows|triggers)/([\w/-]+)"),
    ("jwt", rb"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*"),  # JSON Web Tokens: header.payload.signature
    ("stripe", rb"[rs]k_live_[A-Za-z0-9]{10,}"),  # Stripe live secret and restricted keys
    ("google-api-key", rb"AIza[\w-]{35}"),  # Google API keys
    ("npm", rb"npm_[A-Za-z0-9]{36}"),  # npm access tokens
    ("pypi", rb"pypi-AgEIcHlwaS5vcmc[\w-]{50,}"),  # PyPI upload tokens
    ("sendgrid", rb"SG\.[\w-]{22}\.[\w-]{43}"),  # SendGrid API keys
    # PEM/OpenSSH/PGP private key blocks: each line between the markers (see _Rule.spans)
    ("private-key", rb"-----(BEGIN|END)[ A-Z0-9]* PRIVATE KEY(?: BLOCK)?-----"),
)
# scheme://user:password@host: the password ends at the authority's last @ (urllib, libpq)
URL_PASSWORD = rb"://[^\s:/?#]*:([^\s/?#]+)@"
