"""The commands, one module each: apply, check, env, export. Each runs its
command and returns what it found or did as data, with the exit status
that means (a `status`); output.py prints it, as text or JSON; cli.py
parses the command line and hands the options over. An error that ends a
run is raised (errors.py), with its exit code."""
