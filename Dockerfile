# The user-code image: the swiftbolt code location served over gRPC, for Dagster's Helm chart
# (deploy/helm/values.yaml) and for the run and step pods it launches. Build from the repository root:
#   docker build -t registry.example.com/swiftbolt:0.1.0 .
# Nothing secret is baked in: SWIFTBOLT_DATABASE_URL, ALPACA_API_KEY, ALPACA_SECRET_KEY come from the
# environment at run time (a Kubernetes Secret under the chart).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONPATH=/opt/swiftbolt \
    SWIFTBOLT_DBT_EXECUTABLE=/opt/dbt/bin/dbt

WORKDIR /opt/swiftbolt

# dbt in an environment of its own (Dagster runs its executable; the code location never imports dbt-core)
COPY dbt_project/requirements.txt /tmp/dbt-requirements.txt
RUN python -m venv /opt/dbt && /opt/dbt/bin/pip install -r /tmp/dbt-requirements.txt

# dependencies first (a layer that changes only with pyproject.toml); the k8s extra brings the
# CeleryK8sRunLauncher's executor (SWIFTBOLT_EXECUTOR=celery_k8s)
COPY pyproject.toml README.md ./
COPY swiftbolt ./swiftbolt
RUN pip install '.[k8s]' && mkdir -p "$DAGSTER_HOME"

COPY . .
# the dbt manifest the code location loads (dbt parse needs no database)
RUN cd dbt_project && /opt/dbt/bin/dbt parse --quiet --profiles-dir . && rm -rf logs

RUN useradd --create-home --uid 10001 swiftbolt && chown -R swiftbolt "$DAGSTER_HOME" dbt_project
USER swiftbolt

EXPOSE 3030
# The chart runs `dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>` (values.yaml); this is the same
# command for `docker run`. tests/test_deploy.py runs it locally and lists the location's jobs through it.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-f", "definitions.py"]
