"""The bridge itself: pure, table-driven translation rules, one module per concept.

- :mod:`.platform`: wheel tags <-> conda subdir, python/python_abi pins, __glibc/__osx/__win floors
- :mod:`.requirements`: PEP 508 requirements and markers <-> conda MatchSpecs (when=, extra_depends)
- :mod:`.names`: PyPI <-> conda package names (overlay > shipped tables > normalised fallback)
- :mod:`.external`: PEP 725 DepURLs <-> conda packages (PEP 804 mapping data)
- :mod:`.variants`: wheel-variant properties <-> conda virtual packages
"""
