"""PostgreSQL-as-a-Service: a CloudNativePG Cluster, its operator delivered to every Destination."""

from pipelines.postgresql.render import VERSION, check, configure, configure_promise, delete
from promisekit.promise import Definition

PROMISE = Definition(
    name="postgresql",
    version=VERSION,
    description="A PostgreSQL database (CloudNativePG) with replicas and backups to an S3-compatible store.",
    configure=configure,
    delete=delete,
    configure_promise=configure_promise,
    check=check,
)
