"""The agent as a Windows service: pure logic in plain modules, pywin32 only in the ``*_windows`` ones."""

# Every module of this package is type-checked as Windows code (mypy --platform win32) and
# imported on Linux by tests/architecture/test_windows_typecheck.py. Only the ``*_windows``
# modules touch pywin32, each import guarded by ``sys.platform == "win32"`` so that they import
# anywhere; their functions raise WindowsOnly elsewhere.
