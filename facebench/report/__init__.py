"""facebench subpackage."""
