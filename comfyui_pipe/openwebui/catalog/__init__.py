"""Which workflows are offered, to whom, whether they can run, which one does a job, and
their chat models in Open WebUI."""
