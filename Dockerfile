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

# ---- builder: the venv, with lognotify and its dependencies installed from wheels ---------------
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# The `watch` extra (the Kubernetes client, for `lognotify watch`) is in the image by default;
# the wrapper never imports it. `--build-arg LOGNOTIFY_EXTRAS=` leaves it out.
ARG LOGNOTIFY_EXTRAS=watch
# pip compiles the .pyc files here, because at run time the root filesystem is read-only; the
# built-in templates are compiled here too, into the installed package (never written at run
# time). That step runs from / : `python -m` puts the working directory first on sys.path, and
# from /src it would import (and compile the templates into) the source tree instead. The
# entries are written 0600 (as every cache entry lognotify makes) and owned by root: they are
# made readable for the image's user, who would otherwise compile the templates in every run.
RUN python -m pip wheel --wheel-dir /wheels ".${LOGNOTIFY_EXTRAS:+[$LOGNOTIFY_EXTRAS]}" \
 && python -m venv /opt/lognotify \
 && /opt/lognotify/bin/pip install --no-index --find-links=/wheels \
        "lognotify${LOGNOTIFY_EXTRAS:+[$LOGNOTIFY_EXTRAS]}" \
 && /opt/lognotify/bin/lognotify --version \
 && cd / && /opt/lognotify/bin/python -m lognotify.report.compile

# ---- final image: that venv, nothing else ------------------------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="lognotify" \
      org.opencontainers.image.description="Mail a failed batch job's log (Kubernetes CronJobs, Python jobs)" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 lognotify \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp \
        --no-create-home --shell /usr/sbin/nologin lognotify \
 && mkdir -p /app

# COPY --from is cached by the content it copies. (A `RUN --mount=...,from=builder` that installs
# the wheels is not, with buildah's --layers: a rebuild would keep the previous lognotify.)
COPY --from=builder /opt/lognotify /opt/lognotify

ENV VIRTUAL_ENV=/opt/lognotify \
    PATH=/opt/lognotify/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

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
