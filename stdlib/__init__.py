"""The vocabulary (steps, filters, triggers) and the library modules for `import std "..."`."""
