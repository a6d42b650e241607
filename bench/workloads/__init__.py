"""The workloads, in the order they run. Each module has `run(bench) -> list[Outcome]`."""
