"""Parsing advisory feeds (OSV, KEV, EPSS, CVSS) into domain values; fetching is elsewhere.

Pure code: every function takes bytes, text or decoded JSON and returns values. Reading
files and the network lives in :mod:`patchwarden.drivers` and :mod:`patchwarden.service`.
"""
