"""Subprocess worker for the mutation tests: read every part of a FITS file with jwstio.

Prints OK, or ERR <class> <message> for a jwstio error; any other exception escapes (exit 1);
a crash shows as a signal exit.
"""

import sys

import jwstio
from jwstio import fits


def main(path: str) -> None:
    try:
        with fits.open(path) as f:
            for h in f:
                h.header.cards  # noqa: B018
                for k in h.header.keys():
                    try:
                        h.header[k]
                    except jwstio.FormatError:
                        pass
                h.raw  # noqa: B018
                try:
                    data = h.data
                except jwstio.FormatError as e:
                    if "random-groups" not in str(e):
                        raise
                    continue
                if isinstance(data, fits.FitsTable):  # columns are converted when read
                    for name in data.names:
                        data[name]  # noqa: B018
                    list(data)
        print("OK")
    except jwstio.JwstioError as e:
        print("ERR", type(e).__name__, e)


if __name__ == "__main__":
    main(sys.argv[1])
