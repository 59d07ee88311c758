"""Parsing advisory feeds (OSV, KEV, EPSS, CVSS) into domain values; fetching is elsewhere."""
