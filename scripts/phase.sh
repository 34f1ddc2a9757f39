#!/usr/bin/env bash
# Runs a command as a named phase of `make` and prints its wall time.
name=$1
shift
start=$(date +%s)
echo "[phase] $name: started"
"$@"
status=$?
echo "[phase] $name: $(($(date +%s) - start)) s (exit $status)"
exit $status
