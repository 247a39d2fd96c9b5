"""The fault and bad-input matrix (issue 11): one file a module, rows run by conftest.Matrix."""
