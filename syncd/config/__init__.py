"""The configuration: its keys, the YAML reader and the rules a config must follow."""
