"""Transferable, parameter-efficient sequential recommendation."""
