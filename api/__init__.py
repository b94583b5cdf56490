"""`zvt api`: the operator's REST and WebSocket service over the pipeline and the event store (docs/api.md).

`app.create_app` builds the FastAPI app; `auth` and `tokens` are who may do what; `routers` the endpoints;
`stream` the WebSocket fan-out of fills, positions and alerts from Kafka; `cli` the `zvt api` command.
"""
