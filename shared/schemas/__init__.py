"""Operator API shapes: pydantic request models and row → JSON presenters."""
