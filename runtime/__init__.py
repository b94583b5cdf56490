"""What every process imports: settings, clients of the services, metrics, consumer lag, child processes and
the signed producer. It sits below every package (agents, workflows, bridge, event store, API, CLI) and
imports none of them."""
