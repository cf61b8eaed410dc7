"""Simulated device fleets: thousands of real clients per process, many processes per machine.

``lwm2m fleet`` and this package run N simulated devices against any LwM2M
server. Each device is a real :class:`~lwm2m.client.client.Client` with its
own socket and the sample objects (:mod:`lwm2m.fleet.device`); worker
processes hold the devices (:mod:`lwm2m.fleet.worker`); the parent
(:mod:`lwm2m.fleet.runner`) starts them, plays the scenario
(:mod:`lwm2m.fleet.scenario`), shows progress and Prometheus metrics
(:mod:`lwm2m.fleet.metrics`) and writes the report (:mod:`lwm2m.fleet.report`)::

    import asyncio
    from lwm2m.fleet import FleetConfig, load_scenario, run_fleet

    config = FleetConfig(
        server="coap://127.0.0.1:5683",
        count=1000,
        workers=2,
        scenario=load_scenario("scenario.toml"),
        report="fleet.json",
        plot="fleet.png",
    )
    report = asyncio.run(run_fleet(config))
    print(report.result)   # RESULT devices=1000 registered=1000 failed=0 ...
"""

from __future__ import annotations

from lwm2m.fleet.runner import Fleet, FleetConfig, FleetReport, run_fleet
from lwm2m.fleet.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = [
    "Fleet",
    "FleetConfig",
    "FleetReport",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "run_fleet",
]
