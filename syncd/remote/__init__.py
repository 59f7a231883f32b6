"""The remote side. ``backend`` is the service-neutral interface the engine, planner,
worker and tracker use (``Backend``, ``RemoteItem``, ``Change``, ...); ``errors``
holds the typed errors every backend raises; ``tracker`` keeps the index's remote
snapshot fresh; ``webhook`` receives pushed changes. Each service lives in its own
package (``exavault``), which only ``syncd.session`` picks and builds."""
