"""DevEnvironment-as-a-Service: code-server with the language's toolchain, storage, optional PostgreSQL."""

from pipelines.devenvironment.render import VERSION, check, configure, configure_promise, delete
from pipelines.postgresql import PROMISE as POSTGRESQL
from promisekit.promise import Definition

PROMISE = Definition(
    name="devenvironment",
    version=VERSION,
    description="A browser IDE with your language's toolchain, a home volume and, on request, PostgreSQL.",
    configure=configure,
    delete=delete,
    configure_promise=configure_promise,
    check=check,
    # db: true renders a CNPG Cluster, whose operator the postgresql promise delivers.
    required_promises=((POSTGRESQL.name, POSTGRESQL.version),),
)
