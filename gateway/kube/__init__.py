"""The Kubernetes client code, in one package: what the Kubernetes backends and the Job path use.

`client` (KubeApi: the API with its faults translated), `errors` (API faults as `GatewayError`s),
`watch` and `informer` (watch streams, the latest state of our objects), `access` (the verbs the
gateway may use, checked at start), `objects` (the objects it writes, built from a `ServiceSpec`),
`placement` (which image, on which nodes), `pod_security` (Pod Security "restricted"), `exposed`
(an exposed service's container) and `secrets` (a service's own Secret).
"""
