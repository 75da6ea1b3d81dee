# The Airflow image of docker-compose.yaml: the official image with this provider installed.
# Built by `docker compose up --build` (or `docker compose build`); see docs/compose.md.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION

# The project (sources, example dags and scripts/compose_setup.py), owned by the airflow user.
COPY --chown=airflow:0 . /opt/importio
WORKDIR /opt/importio
# apache-airflow pinned to the image's version so that pip never upgrades or downgrades Airflow itself;
# "postgres" brings psycopg 3 (the store's driver); moto[server] is the S3 emulator of the compose file.
# asyncssh (the SFTP test server) comes with apache-airflow-providers-sftp.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" ".[postgres]" "moto[server,s3]>=5.0"
WORKDIR /opt/airflow
