"""Process helpers: the `make run` launcher and the embedded Redis it (and the tests) start."""
