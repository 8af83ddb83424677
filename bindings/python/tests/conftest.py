import os

# The tests run against whichever `dirrm` Python imports: the source tree when `make
# python-test` sets PYTHONPATH=bindings/python, or an installed package (make install-test).
# REPO is still this checkout: the header and the C examples the tests compare with live here.
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def pytest_report_header() -> str:
    try:
        import dirrm
    except ImportError as error:
        raise SystemExit(
            f"cannot import dirrm ({error}): install it (pip install ./bindings/python) "
            "or run the tests with `make python-test`"
        ) from None
    return f"dirrm {dirrm.__version__}: {os.path.dirname(dirrm.__file__)}, library {dirrm.library_path()}"
