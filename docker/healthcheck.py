#!/usr/bin/env python3
"""Container health check: exit 0 when URL answers 2xx within the timeout.

Usage: healthcheck URL [TIMEOUT_SECONDS]. Standard library only, so it runs in
any image that has Python.
"""

import sys
import urllib.error
import urllib.request


def main(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: healthcheck URL [TIMEOUT_SECONDS]")
    sys.exit(main(sys.argv[1], *map(float, sys.argv[2:])))
