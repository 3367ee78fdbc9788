"""GPU tests need no Django: run them with `--confcutdir=tests/gpu` on a machine without it."""
