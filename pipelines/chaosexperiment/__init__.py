"""ChaosExperiment-as-a-Service: one Chaos Mesh fault, once or on a schedule, inside guardrails."""

from pipelines.chaosexperiment.chaos_mesh import DESTINATIONS
from pipelines.chaosexperiment.render import VERSION, check, configure, configure_promise, delete
from promisekit.promise import Definition

PROMISE = Definition(
    name="chaosexperiment",
    version=VERSION,
    description="One fault (pod, network, IO or stress) injected by Chaos Mesh into your pods, once or on a schedule, inside the platform's guardrails.",
    configure=configure,
    delete=delete,
    configure_promise=configure_promise,
    check=check,
    # Chaos Mesh, and so every experiment, only where it can run: Destinations of type cluster.
    destination_selectors=(DESTINATIONS,),
)
