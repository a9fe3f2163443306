"""`--backend` for the scripts: Keras reads `KERAS_BACKEND` once, when it is
first imported, so a script must read the option before it imports Keras
(this module imports nothing that does)."""

import os

BACKENDS = ("tensorflow", "jax", "torch")


def backend_option(argv):
    """The value of `--backend` in `argv`, or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def select_backend(argv):
    """Sets `KERAS_BACKEND` from `--backend` in `argv`, if given; call it
    before Keras is imported."""
    backend = backend_option(argv)
    if backend:
        os.environ["KERAS_BACKEND"] = backend


def add_backend_argument(parser):
    """`--backend`, defaulting to the backend Keras was imported with."""
    import keras

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=keras.backend.backend(),
        help="Keras backend (default: KERAS_BACKEND, else tensorflow); "
        "given on the command line, it is set before Keras is imported",
    )


def check_backend(parser, args):
    """Refuses a `--backend` that differs from the imported Keras's."""
    import keras

    if args.backend != keras.backend.backend():
        parser.error(
            f"--backend {args.backend}: Keras was already imported with the "
            f"{keras.backend.backend()} backend. Pass --backend on the "
            "command line, or set KERAS_BACKEND."
        )
