"""The command line: the parser, one module per command, and the one mapping to exit codes."""
