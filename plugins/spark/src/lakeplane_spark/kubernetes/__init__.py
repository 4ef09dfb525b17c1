"""Running Spark drivers on Kubernetes: pure manifest builders and the kubernetes-asyncio backend."""
