"""Numbered SQL migrations, applied in order by `mission-control migrate`."""
