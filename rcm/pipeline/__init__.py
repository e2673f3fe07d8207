"""The stages of rcm, typed: what the CLI, batch jobs and the demo call."""
