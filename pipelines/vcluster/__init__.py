"""VCluster-as-a-Service: a virtual cluster on the host that registers itself as a Kratix Destination."""

from pipelines.vcluster.render import VERSION, check, configure, delete
from promisekit.promise import Definition

PROMISE = Definition(
    name="vcluster",
    version=VERSION,
    description="A virtual cluster for one environment, registered as a Kratix Destination: the platform grows through its own requests.",
    configure=configure,
    delete=delete,
    check=check,
    # A vCluster runs on the host: only the platform's own Destination takes its Works.
    destination_selectors=({"environment": "platform"},),
)
