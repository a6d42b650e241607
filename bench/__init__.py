"""Kakehashi's performance benchmark: an organisation-scale dataset and the workloads measured
on it. Not part of the test run; `make bench` runs it (README, "Performance")."""
