# lognotify: mails a failed batch job's log.
#
#   docker build -t lognotify .
#   docker run --rm -e LOGNOTIFY_TO=ops@example.com -e LOGNOTIFY_SMTP_HOST=smtp.example.com \
#       lognotify lognotify -- sh -c 'echo boom; exit 3'
#
# The image is also a base for Python jobs: `lognotify` and its venv (/opt/lognotify, first on
# PATH, so `python` and `pip` are the venv's) are there, and it runs as UID 10001 with a
# read-only root filesystem (only /tmp needs to be writable). See docs/deploying.md.
ARG BASE_IMAGE=python:3.12-slim

# ---- builder: a wheel for lognotify and for each of its dependencies ---------------------------
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN python -m pip wheel --wheel-dir /wheels . \
 && ls -l /wheels

# ---- final image: a venv with those wheels, nothing else ---------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="lognotify" \
      org.opencontainers.image.description="Mail a failed batch job's log (Kubernetes CronJobs, Python jobs)" \
      org.opencontainers.image.licenses="MIT"

ENV VIRTUAL_ENV=/opt/lognotify \
    PATH=/opt/lognotify/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheels are bind-mounted from the builder, so they never become a layer of this image;
# pip compiles the .pyc files now, because at run time the root filesystem is read-only.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
 && "$VIRTUAL_ENV/bin/pip" install --no-index --find-links=/wheels lognotify \
 && lognotify --help >/dev/null \
 && groupadd --system --gid 10001 lognotify \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp \
        --no-create-home --shell /usr/sbin/nologin lognotify \
 && rm -rf /root/.cache /tmp/* \
 && mkdir -p /app

# Only /tmp is writable at run time (an emptyDir in Kubernetes, --tmpfs /tmp with podman/docker):
# HOME and TMPDIR point there, and Python neither writes bytecode nor buffers output.
ENV HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001

# No ENTRYPOINT on purpose: a CronJob sets `command: ["lognotify", "--"]` and puts the job in
# `args`, and an image built FROM this one sets its own CMD, e.g.
#   CMD ["lognotify", "--", "python", "/app/job.py"]   (any program, wrapped on the command line)
#   CMD ["python", "/app/job.py"]                       (a job using capture_and_notify itself)
# so nothing is ever wrapped twice (which would send two mails).
CMD ["lognotify", "--help"]
