"""The OSCAR-style script runtime: runs a service's shell script on each input file."""
