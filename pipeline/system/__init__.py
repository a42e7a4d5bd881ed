"""The process's own helpers, beneath everything: exiting without teardown
(:mod:`~pipeline.system.exiting`), SIGINT and SIGTERM (:mod:`~pipeline.system.interrupt`),
atomic writes (:mod:`~pipeline.system.io`), TensorFlow's start-up noise held back
(:mod:`~pipeline.system.quiet`), the CPU pin that makes the same bits on every x86-64
machine (:mod:`~pipeline.system.machine`), secrets out of what is shown
(:mod:`~pipeline.system.redact`), and what every entry point shares: a user error as one
line (:mod:`~pipeline.system.entry`).

They import nothing of the project: every other folder may use them.
"""
