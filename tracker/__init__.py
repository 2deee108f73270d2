"""velo-tracker: bounded error tracking for Python services, exposed to Prometheus at scrape time."""
