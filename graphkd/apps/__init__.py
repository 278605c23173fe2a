"""graphkd.apps: what users run, built on :mod:`graphkd.core`: jobs and run directories, the
demo / compare / report, predict / export / package, and the Hydra CLI."""
