"""Machine images made on the host: the busybox test image and its parts."""
