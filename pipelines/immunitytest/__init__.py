"""ImmunityTest-as-a-Service: a scheduled, serial sequence of faults and checks (a Chaos Mesh Workflow)."""

from pipelines.chaosexperiment.chaos_mesh import DESTINATIONS
from pipelines.chaosexperiment.render import VERSION as CHAOS_EXPERIMENT_VERSION
from pipelines.immunitytest.render import VERSION, check, configure, delete
from promisekit.promise import Definition

PROMISE = Definition(
    name="immunitytest",
    version=VERSION,
    description="A scheduled sequence of faults and checks (kill a pod, stress the network, verify the metrics), run by Chaos Mesh.",
    configure=configure,
    delete=delete,
    check=check,
    # Chaos Mesh comes from the chaosexperiment promise: two promises never write the same Flux objects.
    required_promises=(("chaosexperiment", CHAOS_EXPERIMENT_VERSION),),
    destination_selectors=(DESTINATIONS,),
)
