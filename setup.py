"""Packaging for LiveMatch: the metadata is in pyproject.toml; this file lets older tools
build it."""

from setuptools import setup

setup()
