"""Door actuator implementations, one module each; used through `gate` and built by `gate.registry`."""
