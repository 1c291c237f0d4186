"""The project's local service-desk API: the only stand-in, for the far side of the network.

``python -m ingestion.devtools.local_api --port 8765 --token dev-token`` runs it on its own; ``start_server`` runs it
in a thread for the demo and the tests.
"""

from ingestion.devtools.local_api.server import ServiceDeskAPI, start_server

SYSTEM = "local"  # the declared service-desk system this API answers for (ingestion/sources/servicedesk/systems/)

__all__ = ["SYSTEM", "ServiceDeskAPI", "start_server"]
