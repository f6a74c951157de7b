"""The optional C part of the scanner; everything else is in pyproject.toml.

`overlayscope.scan._listdir` lists and lstats a directory in C. It is optional:
where no C compiler or Python headers are at hand the build goes on without it,
and the scanner uses its pure-Python walk (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "overlayscope.scan._listdir",
            ["overlayscope/scan/_listdir.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
