"""The message bus between the engine service and everything around it (NATS with JetStream).

``protocol``: subjects, headers and the batch-stream body (the wire contract with the engine
service); ``natsserver``: a local nats-server for ``derivatives serve`` and tests; ``client``: command
batches by request-reply; ``stream``: the batch stream read by sequence; ``view``: the replica of
the engine state fed by that stream, with read-your-writes waits.
"""
