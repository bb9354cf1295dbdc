"""python -m tlsuite_core: the tlsuite CLI."""

from .cli import main

if __name__ == "__main__":
    main()
